"""Helpers of the tool tests: repository paths and tiny training configs
built on the demo config."""
import os.path as osp

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIGS = osp.join(REPO, 'configs', 'semeda')


def tiny_config(tmp_path, root, loss='semeda', iters=4, extra=''):
    """A config file: the demo config shrunk to 64x64 and a few iterations,
    no dropout, no workers."""
    losses = {
        'semeda': "dict(type='SemedaLoss', layer_weights=(2.0, 4.0, 0.0))",
        'ce': None,
    }[loss]
    loss_line = '' if losses is None else f'''
        loss_decode=[
            dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            {losses}],'''
    text = f'''
_base_ = ['{CONFIGS}/deeplabv3plus_r18_shapes_cpu_semeda.py']
model = dict(
    data_preprocessor=dict(size=(64, 64)),
    decode_head=dict(dropout_ratio=0.0,{loss_line}),
    auxiliary_head=dict(dropout_ratio=0.0))
_loader = dict(num_workers=0, persistent_workers=False,
               dataset=dict(data_root='{root}'))
train_dataloader = dict(batch_size=2, **_loader)
val_dataloader = dict(batch_size=1, **_loader)
test_dataloader = val_dataloader
param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0,
                        end={iters}, by_epoch=False)]
train_cfg = dict(max_iters={iters}, val_interval={iters})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=2,
                     max_keep_ckpts=3), visualization=dict(draw=False))
log_level = 'WARNING'
{extra}
'''
    path = tmp_path / f'tiny_{loss}.py'
    path.write_text(text)
    return str(path)
