"""``make demo``: train DeepLabV3+ with CE + SEMEDA on the CPU, evaluate,
and draw image / ground truth / prediction / where SEMEDA acts / entropy."""
from __future__ import annotations

import argparse
import os.path as osp
import time
from typing import List, Optional

import numpy as np
import torch


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


def _semeda_module(model):
    from ..models.losses import SemedaLoss
    losses = model.decode_head.loss_decode
    losses = losses if isinstance(losses, torch.nn.ModuleList) else [losses]
    return next((loss for loss in losses if isinstance(loss, SemedaLoss)),
                None)


def demo_figure(runner, num: int, path: str) -> str:
    """Write the demo's picture: per validation image, image | ground truth
    | prediction | where SEMEDA acts (its per-pixel loss) | prediction
    entropy, titled columns and a class legend."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from ..fileio import atomic_write
    from ..visualization import colorize
    from .visualize import entropy_map
    model = runner.model
    model.eval()
    loss = _semeda_module(model)
    dataset = runner.val_dataloader.dataset
    meta = dataset.metainfo
    rows = []
    with torch.no_grad():
        for i in range(min(num, len(dataset))):
            batch = runner.val_dataloader.collate_fn([dataset[i]])
            sample = model.test_step(batch)[0]
            img = batch['inputs'][0].permute(1, 2, 0).numpy()[..., ::-1]
            gt = sample.gt_sem_seg.data[0].cpu()
            logits = sample.seg_logits.data.cpu().float()
            h, w = gt.shape
            if img.shape[:2] != (h, w):
                import cv2
                img = cv2.resize(np.ascontiguousarray(img), (w, h))
            acts = (loss(logits[None], gt[None].long(),
                         reduction_override='none')[0].numpy()
                    if loss is not None else np.zeros((h, w)))
            rows.append([np.ascontiguousarray(img).astype(np.uint8),
                         colorize(gt.numpy(), meta['palette']),
                         colorize(logits.argmax(0).numpy(), meta['palette']),
                         acts, entropy_map(logits).numpy()])
    titles = ['image', 'ground truth', 'prediction',
              'where SEMEDA acts\n(per-pixel loss)', 'prediction entropy\n(nats)']
    cmaps = [None, None, None, 'inferno', 'magma']
    fig, axes = plt.subplots(len(rows), 5, figsize=(13, 2.6 * len(rows) + 0.8),
                             squeeze=False)
    for r, row in enumerate(rows):
        for c, arr in enumerate(row):
            ax = axes[r, c]
            im = ax.imshow(arr, cmap=cmaps[c])
            if cmaps[c] is not None:
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02)
            if r == 0:
                ax.set_title(titles[c], fontsize=9)
            ax.axis('off')
    handles = [Patch(color=np.asarray(rgb) / 255, label=name)
               for name, rgb in zip(meta['classes'], meta['palette'])]
    handles.append(Patch(facecolor='white', edgecolor='gray',
                         label='ignore'))
    fig.legend(handles=handles, loc='lower center', ncol=min(len(handles), 7),
               fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    atomic_write(path, lambda tmp: fig.savefig(tmp, dpi=90, format='png'))
    plt.close(fig)
    return path


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the demo; returns the validation metrics."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    import mmseg_semeda  # noqa: F401

    from ..datasets import make_shapes_dataset
    from ..fileio import shipped_dir
    args = demo_parser().parse_args(argv)
    start = time.perf_counter()
    iters = args.iters or 400
    if args.data_root:
        cfg = Config.fromfile(
            osp.join(shipped_dir('configs'), 'semeda',
                     'deeplabv3plus_r18_camvid_cpu_semeda.py'))
        root = args.data_root
        what = f'CamVid at {root}'
    else:
        cfg = Config.fromfile(
            osp.join(shipped_dir('configs'), 'semeda',
                     'deeplabv3plus_r18_shapes_cpu_semeda.py'))
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
    picture = demo_figure(runner, args.num_pictures,
                          osp.join(args.work_dir, 'demo_predictions.png'))
    print('\nvalidation: ' + ', '.join(f'{k} {v:.2f}'
                                       for k, v in metrics.items()))
    print('picture (image | ground truth | prediction | where SEMEDA acts | '
          f'entropy): {picture}')
    print(f'demo took {time.perf_counter() - start:.0f} s')
    return metrics
