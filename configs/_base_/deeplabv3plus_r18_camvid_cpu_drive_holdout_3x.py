# deeplabv3plus_r18_camvid_cpu_drive_holdout.py at 3x the iterations.
_base_ = [
    'mmseg::_base_/default_runtime.py', './models/deeplabv3plus_r18.py',
    './datasets/camvid_drive_holdout.py', './schedules/cpu_3k.py'
]
