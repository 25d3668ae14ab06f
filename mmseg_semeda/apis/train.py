"""The logic of ``tools/train.py`` and ``tools/test.py``: MMSeg's own train
and test scripts (same flags), plus what CPU-only machines need."""
from __future__ import annotations

import argparse
import logging
import os
import os.path as osp
from typing import List, Optional

import torch
from mmengine.config import Config, DictAction
from mmengine.logging import print_log


def _common_args(p: argparse.ArgumentParser) -> None:
    p.add_argument('--work-dir', help='the dir to save logs and models')
    p.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, key=value pairs, e.g. '
        'train_cfg.max_iters=100')
    p.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                   default='none', help='job launcher')
    p.add_argument('--local_rank', '--local-rank', type=int, default=0)


def train_parser() -> argparse.ArgumentParser:
    """MMSeg's tools/train.py arguments."""
    p = argparse.ArgumentParser(description='Train a segmentor')
    p.add_argument('config', help='train config file path')
    p.add_argument('--resume', action='store_true', default=False,
                   help='resume from the latest checkpoint in the work_dir')
    p.add_argument('--amp', action='store_true', default=False,
                   help='enable automatic-mixed-precision training')
    _common_args(p)
    return p


def test_parser() -> argparse.ArgumentParser:
    """MMSeg's tools/test.py arguments, plus --metrics-out."""
    p = argparse.ArgumentParser(description='Test (evaluate) a segmentor')
    p.add_argument('config', help='test config file path')
    p.add_argument('checkpoint', help='checkpoint file')
    p.add_argument('--out', help='folder to save the predicted label maps')
    p.add_argument('--show-dir', help='folder to save painted predictions')
    p.add_argument('--metrics-out',
                   help='write the metrics to this JSON file (for '
                   'tools/analyze_boundaries.py)')
    p.add_argument('--val', action='store_true',
                   help='score the validation split (the config\'s '
                   'val_dataloader and val_evaluator) instead of the test '
                   'split')
    _common_args(p)
    return p


def load_config(args: argparse.Namespace) -> Config:
    """Config with MMSeg's CLI rules: --cfg-options merged, work_dir from the
    CLI, else the config, else ``./work_dirs/<config name>``."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def setup_cpu_distributed(cfg: Config) -> None:
    """Let ``--launcher pytorch`` run on machines without CUDA.

    MMEngine's pytorch launcher calls ``torch.cuda.set_device`` and wraps the
    model with ``device_ids=[LOCAL_RANK]``, which both fail on the CPU. Here
    the gloo process group is started first (MMEngine then skips its own
    init) and the wrapper gets ``device_ids=None``.
    """
    if cfg.launcher == 'none' or torch.cuda.is_available():
        return
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group(backend='gloo')
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel')
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def enable_amp(cfg: Config) -> None:
    """Switch the optimizer wrapper to AmpOptimWrapper, as MMSeg's --amp."""
    wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if wrapper == 'AmpOptimWrapper':
        print_log('AMP training is already enabled in your config.',
                  logger='current', level=logging.WARNING)
        return
    if wrapper != 'OptimWrapper':
        raise ValueError('--amp needs optim_wrapper.type OptimWrapper, got '
                         f'{wrapper!r}')
    if not torch.cuda.is_available():
        raise RuntimeError(
            "--amp needs a CUDA device: MMEngine's AmpOptimWrapper does not "
            'run on the CPU (SemedaLoss itself works under bf16 autocast)')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.loss_scale = 'dynamic'


def _build_runner(cfg: Config):
    from mmengine.runner import Runner
    from mmseg.registry import RUNNERS
    if 'runner_type' not in cfg:
        return Runner.from_cfg(cfg)
    return RUNNERS.build(cfg)


def train_main(argv: Optional[List[str]] = None):
    """``tools/train.py``; returns the Runner after training."""
    import mmseg_semeda  # noqa: F401  (registers modules, checkpoint fix)
    args = train_parser().parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = load_config(args)
    if args.amp:
        enable_amp(cfg)
    cfg.resume = args.resume
    setup_cpu_distributed(cfg)
    runner = _build_runner(cfg)
    runner.train()
    return runner


def test_main(argv: Optional[List[str]] = None) -> dict:
    """``tools/test.py``; returns the metrics."""
    import mmseg_semeda  # noqa: F401
    args = test_parser().parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.val:
        cfg.test_dataloader = cfg.val_dataloader
        cfg.test_evaluator = cfg.val_evaluator
    if args.show_dir:
        vis = cfg.default_hooks.get('visualization')
        if vis is not None:
            vis['draw'] = True
            vis['interval'] = 1
            cfg.visualizer['save_dir'] = args.show_dir
    if args.out:  # predictions as PNGs, written by MMSeg's IoUMetric
        evaluators = cfg.test_evaluator if isinstance(
            cfg.test_evaluator, (list, tuple)) else [cfg.test_evaluator]
        for ev in evaluators:
            if ev.get('type') == 'IoUMetric':
                ev['output_dir'] = args.out
                ev['keep_results'] = True
    setup_cpu_distributed(cfg)
    runner = _build_runner(cfg)
    metrics = runner.test()
    if args.metrics_out:
        import json

        from ..fileio import atomic_write

        def write(tmp):
            with open(tmp, 'w') as f:
                json.dump(dict(config=args.config, checkpoint=args.checkpoint,
                               metrics={k: float(v) for k, v in
                                        metrics.items()}), f, indent=2)
        atomic_write(args.metrics_out, write)
    return metrics
