# PSPNet R18 (a head with no low-level decoder) on the CPU CamVid schedule,
# trained without drive 0001TP, tested on it (datasets/camvid_drive_holdout.py).
_base_ = [
    'mmseg::_base_/default_runtime.py', './models/pspnet_r18.py',
    './datasets/camvid_drive_holdout.py', './schedules/cpu_1k.py'
]
