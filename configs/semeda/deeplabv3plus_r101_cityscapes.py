# DeepLabV3+ R101 on Cityscapes with cross-entropy + SEMEDA, the package's defaults
# (the form that beat cross-entropy in this project's CamVid study,
# docs/results.md; not measured on Cityscapes here). The paper's form:
# deeplabv3plus_r101_cityscapes_paper.py. Everything else is the stock MMSeg config.
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmseg_semeda'], allow_failed_imports=False)
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SemedaLoss'),
    ]))
