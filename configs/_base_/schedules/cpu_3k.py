# cpu_1k.py at 3x the iterations (the longer schedule of the CamVid study);
# a checkpoint every 500 iterations, so a run cut off is resumed from it.
_base_ = ['./cpu_1k.py']
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=3000,
         by_epoch=False)
]
train_cfg = dict(max_iters=3000, val_interval=3000)
