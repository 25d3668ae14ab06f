# DeepLabV3+ R101 on Cityscapes with cross-entropy + SEMEDA in the paper's form:
# lambda = (4, 2, 0) (the paper's best for Cityscapes), every pixel, an edge net pretrained
# on one-hot masks only. Everything else is the stock MMSeg config.
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r101-d8_4xb2-80k_cityscapes-512x1024.py']
custom_imports = dict(imports=['mmseg_semeda'], allow_failed_imports=False)
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SemedaLoss', layer_weights='cityscapes', band_width=None,
             checkpoint='edgenet_c19_synthetic', loss_weight=1.0, start_iter=0,
             class_balance=False),
    ]))
