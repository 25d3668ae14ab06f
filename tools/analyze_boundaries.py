"""Plot mIoU against boundary band width for two or more results (the SEMEDA
paper's Figure 5) and print a table:

    python tools/test.py CFG_CE CKPT_CE --metrics-out ce.json
    python tools/test.py CFG_SEMEDA CKPT_SEMEDA --metrics-out semeda.json
    python tools/analyze_boundaries.py CE=ce.json SEMEDA=semeda.json --out trimap.png
"""
from mmseg_semeda.apis.analyze import main

if __name__ == '__main__':
    main()
