# Baseline of the from-scratch study: DeepLabV3+ R18 from scratch on 306
# CamVid train images, cross-entropy only (CPU schedule); val = CamVid val,
# test = the 61 held-out train images.
_base_ = ['../_base_/deeplabv3plus_r18_camvid_cpu_holdout.py']
