# CE + SEMEDA kept to the 3-pixel band around ground-truth edges: the only
# SEMEDA form that did not cost mIoU in this project's CamVid study (README,
# "Results"); the paper's all-pixel form is deeplabv3plus_r18_camvid_cpu_ft_semeda.py.
_base_ = ['./deeplabv3plus_r18_camvid_cpu_ft_semeda.py']
model = dict(decode_head=dict(loss_decode=[
    dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
    dict(type='SemedaLoss', checkpoint='edgenet_c11_camvid',
         layer_weights=(4.0, 2.0, 0.0), band_width=3),
]))
