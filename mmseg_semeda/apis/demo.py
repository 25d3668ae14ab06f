"""``make demo``: train DeepLabV3+ with CE + SEMEDA on the CPU, evaluate,
and draw image / ground truth / prediction."""
from __future__ import annotations

import argparse
import os.path as osp
import time
from typing import List, Optional

import numpy as np
import torch

CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(
    osp.abspath(__file__)))), 'configs', 'semeda')


def demo_parser() -> argparse.ArgumentParser:
    """Arguments of the demo."""
    p = argparse.ArgumentParser(description='SEMEDA demo on the CPU')
    p.add_argument('--data-root', default=None,
                   help='CamVid root (images/, annotations/); default: '
                   'generated textured shapes')
    p.add_argument('--work-dir', default='work_dirs/demo')
    p.add_argument('--iters', type=int, default=None,
                   help='training iterations (default: 400)')
    p.add_argument('--num-pictures', type=int, default=3)
    return p


def _predict_panel(runner, num: int) -> np.ndarray:
    from ..visualization import colorize, panel_grid
    model = runner.model
    model.eval()
    dataset = runner.val_dataloader.dataset
    palette = dataset.metainfo['palette']
    rows = []
    with torch.no_grad():
        for i in range(min(num, len(dataset))):
            batch = runner.val_dataloader.collate_fn([dataset[i]])
            sample = model.test_step(batch)[0]
            img = batch['inputs'][0].permute(1, 2, 0).numpy()[..., ::-1]
            img = np.ascontiguousarray(img)  # BGR -> RGB
            gt = sample.gt_sem_seg.data[0].cpu().numpy()
            pred = sample.pred_sem_seg.data[0].cpu().numpy()
            h, w = gt.shape
            if img.shape[:2] != (h, w):
                import cv2
                img = cv2.resize(img, (w, h))
            rows.append([img.astype(np.uint8), colorize(gt, palette),
                         colorize(pred, palette)])
    return panel_grid(rows)


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the demo; returns the validation metrics."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    import mmseg_semeda  # noqa: F401

    from ..datasets import make_shapes_dataset
    from ..visualization import save_rgb
    args = demo_parser().parse_args(argv)
    start = time.perf_counter()
    iters = args.iters or 400
    if args.data_root:
        cfg = Config.fromfile(
            osp.join(CONFIG_DIR, 'deeplabv3plus_r18_camvid_cpu_semeda.py'))
        root = args.data_root
        what = f'CamVid at {root}'
    else:
        cfg = Config.fromfile(
            osp.join(CONFIG_DIR, 'deeplabv3plus_r18_shapes_cpu_semeda.py'))
        root = make_shapes_dataset(osp.join(args.work_dir, 'data'))
        what = f'generated textured shapes in {root}'
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader]['dataset']['data_root'] = root
    cfg.work_dir = args.work_dir
    cfg.train_cfg.max_iters = iters
    cfg.train_cfg.val_interval = iters + 1  # validate once, below
    cfg.param_scheduler[0]['end'] = iters
    cfg.default_hooks.checkpoint.interval = iters
    cfg.default_hooks.logger.interval = max(iters // 12, 1)
    print(f'demo: DeepLabV3+ R18, CE + SEMEDA, {iters} iterations on {what}')
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val()
    picture = save_rgb(_predict_panel(runner, args.num_pictures),
                       osp.join(args.work_dir, 'demo_predictions.png'))
    print('\nvalidation: ' + ', '.join(f'{k} {v:.2f}'
                                       for k, v in metrics.items()))
    print(f'picture (image | ground truth | prediction): {picture}')
    print(f'demo took {time.perf_counter() - start:.0f} s')
    return metrics
