# DeepLabV3+ R50 on VOC 2012 (aug) with cross-entropy + SEMEDA in the paper's form:
# lambda = (2, 4, 0) (the paper's best for VOC), every pixel, an edge net pretrained
# on one-hot masks only. Everything else is the stock MMSeg config.
_base_ = ['mmseg::deeplabv3plus/deeplabv3plus_r50-d8_4xb4-40k_voc12aug-512x512.py']
custom_imports = dict(imports=['mmseg_semeda'], allow_failed_imports=False)
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SemedaLoss', layer_weights='voc', band_width=None,
             checkpoint='edgenet_c21_synthetic', loss_weight=1.0, start_iter=0,
             class_balance=False),
    ]))
