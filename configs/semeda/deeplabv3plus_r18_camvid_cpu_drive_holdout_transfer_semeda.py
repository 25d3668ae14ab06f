# Transfer regime: deeplabv3plus_r18_camvid_cpu_drive_holdout_semeda.py with the
# backbone initialised from a DeepLabV3+ R18 trained with CE on Stanford
# Background (the last checkpoint of configs/semeda/
# deeplabv3plus_r18_stanford_cpu_ce.py; the study sets the seed's own with
# model.backbone.init_cfg.checkpoint=...), heads fresh.
_base_ = ['./deeplabv3plus_r18_camvid_cpu_drive_holdout_semeda.py']
model = dict(
    backbone=dict(init_cfg=dict(
        type='Pretrained',
        checkpoint='work_dirs/stanford/ce_s0/iter_1000.pth',
        prefix='backbone.')))
