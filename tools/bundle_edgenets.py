"""Pretrain the bundled zero-config edge nets (checkpoints/edgenet_cC_synthetic_soft.pth).

Example (the class counts of MMSeg's data sets, one thread)::

    python tools/bundle_edgenets.py 2 3 6 7 --threads 1
"""
from mmseg_semeda.apis.bundle import main

if __name__ == '__main__':
    main()
