# DeepLabV3+ R18-d8 from scratch on CamVid, CPU schedule: 1000 iterations of
# batch 4 crops 176x240 at half resolution.
_base_ = [
    'mmseg::_base_/default_runtime.py', './models/deeplabv3plus_r18.py',
    './datasets/camvid.py', './schedules/cpu_1k.py'
]
