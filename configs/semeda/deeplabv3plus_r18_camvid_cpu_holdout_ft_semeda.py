# The one line in the fine-tuning stage of the held-out study: the CE model of
# deeplabv3plus_r18_camvid_cpu_holdout_ce.py (its seed; set load_from) fine-
# tuned 300 more iterations with CE + a zero-config dict(type='SemedaLoss').
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu_holdout_ft.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SemedaLoss'),
    ]))
