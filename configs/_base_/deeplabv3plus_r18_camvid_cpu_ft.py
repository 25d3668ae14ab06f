# Second stage of the CPU schedule: 300 more iterations starting from the
# cross-entropy model of configs/semeda/deeplabv3plus_r18_camvid_cpu_ce.py
# (train that first; its checkpoint is the `load_from` below). SEMEDA acts on
# boundaries, which a from-scratch model only gets right late; this stage is
# where the study of issue 8 compares the losses (same start, same data).
_base_ = [
    'mmseg::_base_/default_runtime.py', './models/deeplabv3plus_r18.py',
    './datasets/camvid.py', './schedules/cpu_ft300.py'
]
load_from = 'work_dirs/camvid_cpu_ce/iter_1000.pth'
