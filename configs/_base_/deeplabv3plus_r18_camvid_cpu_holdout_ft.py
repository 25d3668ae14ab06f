# The fine-tuning stage (deeplabv3plus_r18_camvid_cpu_ft.py) on the 306 train
# images of the held-out study; `load_from` is the CE model of
# configs/semeda/deeplabv3plus_r18_camvid_cpu_holdout_ce.py of the same seed,
# e.g. `--cfg-options load_from=work_dirs/scratch/ce_s0/iter_1000.pth`
# (tools/study_losses.py: `load_from=work_dirs/scratch/ce_s{seed}/...`).
_base_ = [
    'mmseg::_base_/default_runtime.py', './models/deeplabv3plus_r18.py',
    './datasets/camvid_holdout.py', './schedules/cpu_ft300.py'
]
load_from = None
