# PSPNet R18-d8: models/deeplabv3plus_r18.py (the same backbone, auxiliary
# head, BN and preprocessing) with MMSeg's pyramid pooling head at the r18
# sizes instead of DeepLabV3+'s: no low-level decoder, 11 classes (CamVid).
_base_ = ['./deeplabv3plus_r18.py']
model = dict(
    decode_head=dict(
        _delete_=True,
        type='PSPHead',
        in_channels=512,
        in_index=3,
        channels=128,
        pool_scales=(1, 2, 3, 6),
        dropout_ratio=0.1,
        num_classes=11,
        norm_cfg=dict(type='BN', requires_grad=True),
        align_corners=False,
        loss_decode=[dict(type='CrossEntropyLoss', use_sigmoid=False,
                          loss_weight=1.0)]))
