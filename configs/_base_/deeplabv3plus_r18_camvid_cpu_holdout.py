# The CPU CamVid schedule (deeplabv3plus_r18_camvid_cpu.py) trained on 306 of
# the 367 train images; the other 61 are the test set (see
# datasets/camvid_holdout.py).
_base_ = [
    'mmseg::_base_/default_runtime.py', './models/deeplabv3plus_r18.py',
    './datasets/camvid_holdout.py', './schedules/cpu_1k.py'
]
