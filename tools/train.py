"""Train a segmentor (MMSeg's tools/train.py flags; CPU DDP supported).

python tools/train.py configs/semeda/deeplabv3plus_r101_voc.py
"""
from mmseg_semeda.apis import train_main

if __name__ == '__main__':
    train_main()
