# DeepLabV3+ R18-d8 from scratch on Stanford Background (8 classes), the
# CamVid CPU schedule: 1000 iterations of batch 4 crops 176x240.
_base_ = [
    'mmseg::_base_/default_runtime.py', './models/deeplabv3plus_r18.py',
    './datasets/stanford_background.py', './schedules/cpu_1k.py'
]
model = dict(
    decode_head=dict(num_classes=8), auxiliary_head=dict(num_classes=8))
