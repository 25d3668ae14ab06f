# DeepLabV3+ R18-d8 (the sizes of MMSeg's r18 configs) with plain BN, for CPU
# and single-process runs; no pretrained weights (none can be downloaded on
# these machines), 11 classes (CamVid).
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py']
custom_imports = dict(imports=['mmseg_semeda'], allow_failed_imports=False)
norm_cfg = dict(type='BN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    size=(176, 240))
model = dict(
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    decode_head=dict(
        c1_in_channels=64,
        c1_channels=12,
        in_channels=512,
        channels=128,
        num_classes=11,
        norm_cfg=norm_cfg,
        loss_decode=[dict(type='CrossEntropyLoss', use_sigmoid=False,
                          loss_weight=1.0)]),
    auxiliary_head=dict(in_channels=256, channels=64, num_classes=11,
                        norm_cfg=norm_cfg))
