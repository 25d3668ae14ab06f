# Second head, baseline: PSPNet R18 from scratch, CE only, trained without
# drive 0001TP.
_base_ = ['../_base_/pspnet_r18_camvid_cpu_drive_holdout.py']
