# DeepLabV3+ R18 from scratch on CamVid, cross-entropy + SEMEDA (CPU schedule, second stage),
# with the edge net pretrained on the CamVid train annotations (bundled).
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu_ft.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SemedaLoss', checkpoint='edgenet_c11_camvid',
             layer_weights=(4.0, 2.0, 0.0)),
    ]))
