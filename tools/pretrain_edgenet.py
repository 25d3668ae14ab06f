"""Pretrain a SEMEDA edge net on label-map PNGs or synthetic masks.

Example (CamVid, void 11 -> ignore)::

    python tools/pretrain_edgenet.py \
        --ann-dir ../shared/data/camvid/annotations/train \
        --val-dir ../shared/data/camvid/annotations/val \
        --num-classes 11 --label-map 11:255 --out edgenet_camvid.pth
"""
from mmseg_semeda.apis.pretrain import main

if __name__ == '__main__':
    main()
