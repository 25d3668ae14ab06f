"""Training inside MMSeg: configs, tools/train.py and test.py, MMSeg's own
train script, resume, DDP on the CPU, and checkpoint compatibility."""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from train_helpers import CONFIGS, REPO, tiny_config

import mmseg_semeda  # noqa: F401
from mmseg_semeda.apis import test_main as run_test_tool
from mmseg_semeda.apis import train_main

CAMVID = os.environ.get('CAMVID_ROOT',
                        osp.join(REPO, '..', 'shared', 'data', 'camvid'))


LOSS_HOOK = '''
custom_hooks = [dict(type='RankProbeHook')]
custom_imports = dict(imports=['mmseg_semeda', 'ddp_probe'],
                      allow_failed_imports=False)
'''


# Beside the loss, one that waits for a pixel accuracy no tiny run reaches;
# its running accuracy (MessageHub) is what the probe reports as 'switch'.
AUTO_LOSS = '''
model['decode_head']['loss_decode'].append(
    dict(type='SemedaLoss', start_iter='auto', start_acc=1.0,
         start_latest=None, loss_name='loss_semeda_auto'))
'''


def _losses(work_dir):
    files = sorted(glob.glob(osp.join(work_dir, 'rank*.json')))
    return [json.load(open(f)) for f in files]


# ------------------------------------------------------------------ configs
@pytest.mark.parametrize('name', sorted(
    osp.basename(p) for p in glob.glob(osp.join(CONFIGS, '*.py'))))
def test_every_config_builds(name):
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    cfg = Config.fromfile(osp.join(CONFIGS, name))
    assert cfg.custom_imports['imports'] == ['mmseg_semeda']
    model = MODELS.build(cfg.model)
    losses = [type(m).__name__ for m in model.decode_head.loss_decode] if \
        isinstance(model.decode_head.loss_decode, torch.nn.ModuleList) else \
        [type(model.decode_head.loss_decode).__name__]
    want = ('SobelEdgeLoss' if 'sobel' in name else
            'CrossEntropyLoss' if name.endswith('_ce.py') else 'SemedaLoss')
    assert want in losses, losses


def _no_scope(obj):
    """Drop the ``_scope_`` keys that ``mmseg::`` inheritance adds."""
    if isinstance(obj, dict):
        return {k: _no_scope(v) for k, v in obj.items() if k != '_scope_'}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_no_scope(v) for v in obj)
    return obj


def test_voc_and_cityscapes_configs_change_only_the_loss():
    from mmengine.hub import get_config
    from mmseg.registry import MODELS

    from mmseg_semeda.models.losses.semeda_loss import PAPER_LAYER_WEIGHTS
    for ours, stock in [
        ('deeplabv3plus_r101_voc',
         'deeplabv3plus_r101-d8_4xb4-40k_voc12aug-512x512.py'),
        ('deeplabv3plus_r50_cityscapes',
         'deeplabv3plus_r50-d8_4xb2-80k_cityscapes-512x1024.py'),
    ]:
        b = _no_scope(get_config(f'mmseg::deeplabv3plus/{stock}').to_dict())
        b['model']['decode_head'].pop('loss_decode')
        for form in ('', '_paper'):
            a = _no_scope(Config.fromfile(
                osp.join(CONFIGS, f'{ours}{form}.py')).to_dict())
            a.pop('custom_imports')
            la = a['model']['decode_head'].pop('loss_decode')
            assert a == b
            assert la[1]['type'] == 'SemedaLoss'
            # the default form is the package's; the paper's says all of it
            assert (la[1] == dict(type='SemedaLoss')) == (form == '')
            if form:
                loss = MODELS.build(la[1])
                assert loss.band_width is None
                assert loss.layer_weights == PAPER_LAYER_WEIGHTS[
                    'voc' if 'voc' in ours else 'cityscapes']


# ------------------------------------------------------------------ CamVid
def test_camvid_dataset_on_generated_files(tmp_path):
    import numpy as np
    from PIL import Image

    from mmseg_semeda.datasets import CamVidDataset
    for split in ('train', 'val'):
        os.makedirs(tmp_path / 'images' / split)
        os.makedirs(tmp_path / 'annotations' / split)
        for i in range(2):
            Image.fromarray(np.zeros((12, 16, 3), np.uint8)).save(
                tmp_path / 'images' / split / f'0001TP_{i:06d}.jpg')
            ann = np.full((12, 16), 3, np.uint8)
            ann[:, :4] = 11  # void
            ann[:, 12:] = 10
            Image.fromarray(ann).save(tmp_path / 'annotations' / split /
                                      f'0001TP_{i:06d}.png')
    init_default_scope('mmseg')
    ds = CamVidDataset(
        data_root=str(tmp_path),
        data_prefix=dict(img_path='images/val',
                         seg_map_path='annotations/val'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations'),
                  dict(type='PackSegInputs')])
    assert len(ds) == 2 and len(ds.metainfo['classes']) == 11
    seg = ds[0]['data_samples'].gt_sem_seg.data
    assert set(torch.unique(seg).tolist()) == {3, 10, 255}


@pytest.mark.skipif(not osp.isdir(CAMVID), reason='CamVid not present')
def test_camvid_dataset_on_the_real_data():
    init_default_scope('mmseg')
    cfg = Config.fromfile(
        osp.join(CONFIGS, 'deeplabv3plus_r18_camvid_cpu_semeda.py'))
    from mmseg.registry import DATASETS
    for loader, n in (('train_dataloader', 367), ('val_dataloader', 101)):
        dcfg = cfg[loader]['dataset']
        dcfg['data_root'] = CAMVID
        ds = DATASETS.build(dcfg)
        assert len(ds) == n
    sample = ds[0]
    labels = set(torch.unique(sample['data_samples'].gt_sem_seg.data).tolist())
    assert labels <= set(range(11)) | {255} and 11 not in labels


# ------------------------------------------------------------------ training
def test_train_resume_and_load_into_ce_config(tmp_path, shapes_root,
                                               monkeypatch):
    monkeypatch.syspath_prepend(osp.dirname(__file__))
    # the loss switches on by accuracy (at its second call), not at
    # start_latest of max_iters, which the interruption below changes
    early = "model['decode_head']['loss_decode'][1]['start_acc'] = 0.01\n"
    cfg = tiny_config(tmp_path, shapes_root, iters=4,
                      extra=LOSS_HOOK + AUTO_LOSS + early)
    full, part = str(tmp_path / 'full'), str(tmp_path / 'part')
    train_main([cfg, '--work-dir', full])
    # interrupted after 2 iterations, then resumed up to 4
    train_main([cfg, '--work-dir', part, '--cfg-options',
                'train_cfg.max_iters=2'])
    first = _losses(part)[0]['losses']
    train_main([cfg, '--work-dir', part, '--resume'])
    resumed = first + _losses(part)[0]['losses']
    straight = _losses(full)[0]['losses']
    assert len(straight) == len(resumed) == 4
    assert [d['decode.loss_semeda'] > 0 for d in straight] == [
        False, True, True, True]
    for a, b in zip(straight, resumed):
        assert a.keys() == b.keys() and 'decode.loss_semeda' in a
        for k in a:
            assert a[k] == pytest.approx(b[k], rel=1e-5, abs=1e-6), k
    # the automatic start's running accuracy went on across --resume
    switch = _losses(full)[0]['switch']
    assert switch['iter'] == 3 and not switch['on']
    resumed_switch = _losses(part)[0]['switch']
    assert resumed_switch['acc'] == pytest.approx(switch['acc'], rel=1e-9)
    assert resumed_switch['iter'] == 3
    ckpt = osp.join(full, 'iter_4.pth')
    state = torch.load(ckpt, map_location='cpu')['state_dict']
    assert not any('edge' in k for k in state)
    # The SEMEDA-trained weights load into the plain CE config.
    from mmengine.runner import load_checkpoint
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    ce_cfg = Config.fromfile(tiny_config(tmp_path, shapes_root, loss='ce'))
    ce_cfg.model.decode_head.loss_decode = dict(type='CrossEntropyLoss')
    model = MODELS.build(ce_cfg.model)
    load_checkpoint(model, ckpt, strict=True)
    # and tools/test.py evaluates it with the config's metrics
    metrics_file = str(tmp_path / 'metrics.json')
    metrics = run_test_tool([tiny_config(tmp_path, shapes_root, loss='ce'), ckpt,
                         '--work-dir', str(tmp_path / 'test'),
                         '--metrics-out', metrics_file])
    assert {'mIoU', 'mIoU_band_w3', 'mBF'} <= set(metrics)
    # The boundary analysis and the visualisation tools on that checkpoint.
    from mmseg_semeda.apis import analyze, visualize
    plot = str(tmp_path / 'trimap.png')
    table = analyze.main([f'CE={metrics_file}', f'SEMEDA={metrics_file}',
                          '--out', plot])
    assert 'band w3' in table and table.count('| SEMEDA |') == 1
    assert os.path.getsize(plot) > 10_000
    pngs = visualize.main([cfg, ckpt, '--num', '2', '--out-dir',
                           str(tmp_path / 'vis')])
    assert len(pngs) == 2 and all(os.path.getsize(p) > 10_000 for p in pngs)
    with pytest.raises(ValueError, match='mIoU_band_w'):
        bad = tmp_path / 'bad.json'
        bad.write_text('{"mIoU": 1.0}')
        analyze.load_metrics(str(bad))


def test_amp_flag_on_a_cpu_machine_is_a_clear_error(tmp_path, shapes_root):
    if torch.cuda.is_available():
        pytest.skip('CUDA present: --amp is supported')
    with pytest.raises(RuntimeError, match='--amp needs a CUDA device'):
        train_main([tiny_config(tmp_path, shapes_root), '--amp',
                    '--work-dir', str(tmp_path / 'amp')])


def test_bf16_autocast_training_step(tmp_path, shapes_root):
    from mmengine.runner import Runner
    cfg = Config.fromfile(tiny_config(tmp_path, shapes_root))
    cfg.work_dir = str(tmp_path / 'bf16')
    runner = Runner.from_cfg(cfg)
    batch = next(iter(runner.train_dataloader))
    model = runner.model
    data = model.data_preprocessor(batch, True)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        losses = model.loss(data['inputs'], data['data_samples'])
    assert losses['decode.loss_semeda'].dtype == torch.float32
    assert all(torch.isfinite(v) for k, v in losses.items() if 'loss' in k)


def _run(cmd, cwd, env_extra=None, timeout=600):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [REPO, osp.dirname(__file__),
         os.environ.get('PYTHONPATH', '')]))
    env.update(env_extra or {})
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def test_mmseg_own_train_script_runs_a_users_config(tmp_path, shapes_root):
    """A stock-style config with only custom_imports and SemedaLoss added,
    trained by the train.py shipped in MMSeg's wheel."""
    import mmseg
    script = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools',
                      'train.py')
    cfg = tmp_path / 'user_config.py'
    cfg.write_text(f'''
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py',
]
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    decode_head=dict(c1_in_channels=64, c1_channels=12, in_channels=512,
                     channels=32, num_classes=6, norm_cfg=norm_cfg,
                     loss_decode=[
                         dict(type='CrossEntropyLoss', loss_weight=1.0),
                         dict(type='SemedaLoss'),  # added
                     ]),
    auxiliary_head=dict(in_channels=256, channels=16, num_classes=6,
                        norm_cfg=norm_cfg))
_data = dict(
    type='BaseSegDataset', data_root='{shapes_root}',
    img_suffix='.png', seg_map_suffix='.png',
    metainfo=dict(classes=('a', 'b', 'c', 'd', 'e', 'f')),
    pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
              dict(type='PackSegInputs')])
train_dataloader = dict(
    batch_size=2, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_prefix=dict(img_path='images/train',
                                  seg_map_path='annotations/train'), **_data))
train_cfg = dict(max_iters=4, val_interval=100)  # on at 2 (start_latest)
val_dataloader = None
val_cfg = None
test_cfg = None
val_evaluator = None
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
custom_imports = dict(imports=['mmseg_semeda'],
                      allow_failed_imports=False)  # added
''')
    proc = _run([sys.executable, script, str(cfg), '--work-dir',
                 str(tmp_path / 'wd')], cwd=str(tmp_path))
    log = proc.stdout + proc.stderr
    assert 'decode.loss_semeda' in log, log[-2000:]
    # the loss's diagnostics reach the logger (read at the call after the
    # one that computed them)
    assert 'semeda/layer1' in log and 'semeda/band_share' in log
    assert osp.isfile(tmp_path / 'wd' / 'iter_2.pth')


def test_ddp_two_cpu_processes_with_torchrun(tmp_path, shapes_root):
    # every rank must keep the same running accuracy (all-reduced)
    cfg = tiny_config(tmp_path, shapes_root, iters=3,
                      extra=LOSS_HOOK + AUTO_LOSS)
    work = str(tmp_path / 'ddp')
    _run([sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node',
          '2', '--master_port', '29517', osp.join(REPO, 'tools', 'train.py'),
          cfg, '--launcher', 'pytorch', '--work-dir', work],
         cwd=REPO, env_extra={'OMP_NUM_THREADS': '1'})
    ranks = _losses(work)
    assert len(ranks) == 2 and all(r['world_size'] == 2 for r in ranks)
    assert ranks[0]['checksum'] == ranks[1]['checksum']
    assert ranks[0]['edge_net_sum'] == ranks[1]['edge_net_sum']
    switch = ranks[0]['switch']
    assert switch['iter'] == 2 and not switch['on'] and 0 < switch['acc'] < 1
    assert ranks[1]['switch'] == switch
    for r in ranks:
        assert len(r['losses']) == 3
        assert all(torch.isfinite(torch.tensor(v)) for step in r['losses']
                   for v in step.values())
    # each rank saw its own half of the data: losses differ between ranks
    assert ranks[0]['losses'][0] != ranks[1]['losses'][0]


def test_demo_trains_evaluates_and_draws(tmp_path):
    from mmseg_semeda.apis.demo import main as demo
    metrics = demo(['--iters', '2', '--num-pictures', '2', '--work-dir',
                    str(tmp_path / 'demo')])
    assert {'mIoU', 'mIoU_band_w3', 'mBF'} <= set(metrics)
    from PIL import Image
    picture = Image.open(tmp_path / 'demo' / 'demo_predictions.png')
    assert picture.width > 900 and picture.height > 400  # 2 rows, 5 columns


def test_mmseg_own_train_script_on_a_binary_config(tmp_path, shapes_root):
    """MMSeg's binary recipe (out_channels=1, sigmoid CE, labels 0/1, as in
    its DRIVE/HRF configs) with SemedaLoss added: it trains, the loss is
    logged with finite values, and no edge net is pretrained (2 classes
    are bundled)."""
    import mmseg
    import numpy as np
    from PIL import Image
    root = tmp_path / 'binary'
    for split in ('train', ):
        (root / 'annotations' / split).mkdir(parents=True)
        (root / 'images').mkdir()
        (root / 'images' / split).symlink_to(
            osp.join(shapes_root, 'images', split))
        for f in glob.glob(osp.join(shapes_root, 'annotations', split,
                                    '*.png')):
            label = np.asarray(Image.open(f))
            Image.fromarray((label > 2).astype(np.uint8)).save(
                root / 'annotations' / split / osp.basename(f))
    script = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools',
                      'train.py')
    cfg = tmp_path / 'binary_config.py'
    cfg.write_text(f'''
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py',
]
norm_cfg = dict(type='BN', requires_grad=True)
model = dict(
    pretrained=None,
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(depth=18, norm_cfg=norm_cfg),
    decode_head=dict(c1_in_channels=64, c1_channels=12, in_channels=512,
                     channels=32, num_classes=2, out_channels=1,
                     threshold=0.3, norm_cfg=norm_cfg,
                     loss_decode=[
                         dict(type='CrossEntropyLoss', use_sigmoid=True,
                              loss_weight=1.0),
                         dict(type='SemedaLoss', start_iter=0),  # added
                     ]),
    auxiliary_head=dict(in_channels=256, channels=16, num_classes=2,
                        out_channels=1, norm_cfg=norm_cfg,
                        loss_decode=dict(type='CrossEntropyLoss',
                                         use_sigmoid=True, loss_weight=0.4)))
train_dataloader = dict(
    batch_size=2, num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='BaseSegDataset', data_root='{root}', img_suffix='.png',
        seg_map_suffix='.png', metainfo=dict(classes=('bg', 'fg')),
        data_prefix=dict(img_path='images/train',
                         seg_map_path='annotations/train'),
        pipeline=[dict(type='LoadImageFromFile'),
                  dict(type='LoadAnnotations'), dict(type='PackSegInputs')]))
train_cfg = dict(max_iters=2, val_interval=100)
val_dataloader = None
val_cfg = None
test_cfg = None
val_evaluator = None
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
custom_imports = dict(imports=['mmseg_semeda'],
                      allow_failed_imports=False)  # added
''')
    proc = _run([sys.executable, script, str(cfg), '--work-dir',
                 str(tmp_path / 'wd')], cwd=str(tmp_path))
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'no bundled edge net' not in log
    values = [float(v) for v in
              __import__('re').findall(r'decode\.loss_semeda: ([0-9.e+-]+)',
                                       log)]
    assert len(values) == 2 and all(0 < v < 10 for v in values), log[-2000:]


def test_the_automatic_start_under_a_runner(tmp_path, shapes_root,
                                            monkeypatch):
    """Under MMEngine's Runner with the default start ('auto'): the SEMEDA
    term is 0 at iteration 0 and non-zero once switched on (at the latest
    at start_latest of max_iters), and the switch is in the MessageHub."""
    monkeypatch.syspath_prepend(osp.dirname(__file__))
    extra = LOSS_HOOK + AUTO_LOSS + '''
model['decode_head']['loss_decode'][1]['start_latest'] = 0.5
'''
    cfg = tiny_config(tmp_path, shapes_root, iters=6, extra=extra)
    train_main([cfg, '--work-dir', str(tmp_path / 'wd')])
    losses = [step['decode.loss_semeda'] for step in
              _losses(str(tmp_path / 'wd'))[0]['losses']]
    assert len(losses) == 6 and losses[0] == 0
    assert max(losses[1:4]) > 0 and all(v > 0 for v in losses[3:]), losses
