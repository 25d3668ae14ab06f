"""PNGs of image, ground truth, prediction, prediction entropy and edge-net
embeddings for a checkpoint and a few test images:

    python tools/visualize_semeda.py CONFIG CHECKPOINT --num 3 --out-dir vis/
"""
from mmseg_semeda.apis.visualize import main

if __name__ == '__main__':
    main()
