# The longer schedule, baseline: CE only, 3000 iterations, trained without
# drive 0001TP.
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu_drive_holdout_3x.py']
