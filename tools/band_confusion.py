"""Confusion matrices of trained models inside the band around the ground
truth's edges and in the interior, per-class IoU in each:

    python tools/band_confusion.py CONFIG ce=ce.pth semeda=semeda.pth \
        --split val --width 3 --json confusion.json
"""
from mmseg_semeda.apis.confusion import main

if __name__ == '__main__':
    main()
