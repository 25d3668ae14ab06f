# Baseline: DeepLabV3+ R18 from scratch on CamVid, cross-entropy only (CPU schedule, second stage).
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu_ft.py']
