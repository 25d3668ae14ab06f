# Baseline for the held-back drive: CE only, trained without drive 0001TP.
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu_drive_holdout.py']
