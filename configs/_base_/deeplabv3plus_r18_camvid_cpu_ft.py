# Second stage of the CPU schedule: 300 more iterations starting from the
# cross-entropy model of configs/semeda/deeplabv3plus_r18_camvid_cpu_ce.py
# (train that first; its checkpoint is the `load_from` below). SEMEDA acts on
# boundaries, which a from-scratch model only gets right late; this stage is
# where the study of issue 8 compares the losses (same start, same data).
_base_ = ['./deeplabv3plus_r18_camvid_cpu.py']
load_from = 'work_dirs/camvid_cpu_ce/iter_1000.pth'
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, weight_decay=1e-4))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=300,
         by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=300, val_interval=300)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=300,
                    max_keep_ckpts=1))
