# DeepLabV3+ R18 on CamVid, fine-tuned from the CE model, cross-entropy + the Sobel edge loss
# (the SEMEDA paper's baseline; 300 iterations).
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu_ft.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SobelEdgeLoss', loss_weight=1.0),
    ]))
