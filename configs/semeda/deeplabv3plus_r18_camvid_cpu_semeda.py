# DeepLabV3+ R18 from scratch on CamVid, cross-entropy + the one line,
# zero-config (CPU schedule): the bundled 11-class net, every default
# (lambda (4, 2, 0), the 3-pixel band, class balance, the automatic start).
# The paper's form: deeplabv3plus_r18_camvid_cpu_semeda_paper.py.
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SemedaLoss'),
    ]))
