# The CPU CamVid schedule (deeplabv3plus_r18_camvid_cpu.py) trained without
# drive 0001TP, tested on it (datasets/camvid_drive_holdout.py).
_base_ = [
    'mmseg::_base_/default_runtime.py', './models/deeplabv3plus_r18.py',
    './datasets/camvid_drive_holdout.py', './schedules/cpu_1k.py'
]
