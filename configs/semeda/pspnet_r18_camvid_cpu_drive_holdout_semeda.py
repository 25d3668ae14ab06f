# Second head: PSPNet R18 from scratch, CE + the one line, zero-config,
# trained without drive 0001TP.
_base_ = ['../_base_/pspnet_r18_camvid_cpu_drive_holdout.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SemedaLoss'),
    ]))
