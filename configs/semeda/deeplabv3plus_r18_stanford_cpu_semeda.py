# DeepLabV3+ R18 from scratch on Stanford Background: cross-entropy + the one
# line, zero-config (the bundled 8-class net, the package's defaults).
_base_ = ['../_base_/deeplabv3plus_r18_stanford_cpu.py']
model = dict(
    decode_head=dict(loss_decode=[
        dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        dict(type='SemedaLoss'),
    ]))
