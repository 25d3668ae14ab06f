# The demo: DeepLabV3+ R18 from scratch on generated textured shapes with
# cross-entropy + zero-config SEMEDA, a few minutes on a 2-core CPU.
_base_ = [
    'mmseg::_base_/default_runtime.py', '../_base_/models/deeplabv3plus_r18.py',
    '../_base_/datasets/shapes.py', '../_base_/schedules/cpu_1k.py'
]
model = dict(
    data_preprocessor=dict(size=(96, 96)),
    decode_head=dict(
        num_classes=6,
        loss_decode=[
            dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            dict(type='SemedaLoss'),
        ]),
    auxiliary_head=dict(num_classes=6))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=400,
         by_epoch=False)
]
train_cfg = dict(max_iters=400, val_interval=400)
default_hooks = dict(logger=dict(interval=25), checkpoint=dict(interval=400))
