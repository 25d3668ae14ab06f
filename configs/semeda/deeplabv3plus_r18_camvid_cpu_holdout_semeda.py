# The one line, from scratch: deeplabv3plus_r18_camvid_cpu_holdout_ce.py plus
# a zero-config dict(type='SemedaLoss') (CPU schedule, 306 train images; test
# = the 61 held-out train images).
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu_holdout.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SemedaLoss'),
    ]))
