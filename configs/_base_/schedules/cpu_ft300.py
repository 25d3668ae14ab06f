# Second stage of the CPU schedule: 300 iterations of AdamW 5e-4 with poly
# decay from a trained model (`load_from`), one validation at the end.
_base_ = ['./cpu_1k.py']
optim_wrapper = dict(optimizer=dict(lr=5e-4))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, end=300,
         by_epoch=False)
]
train_cfg = dict(max_iters=300, val_interval=300)
default_hooks = dict(checkpoint=dict(interval=300))
