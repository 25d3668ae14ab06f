# The longer schedule: CE + the one line, zero-config, 3000 iterations,
# trained without drive 0001TP.
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu_drive_holdout_3x.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SemedaLoss'),
    ]))
