# DeepLabV3+ R50 on VOC 2012 (aug) with cross-entropy + the Sobel edge loss, the
# SEMEDA paper's fixed-filter baseline. Everything else is the stock config.
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-40k_voc12aug-512x512.py']
custom_imports = dict(imports=['mmseg_semeda'], allow_failed_imports=False)
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SobelEdgeLoss', loss_weight=1.0),
    ]))
