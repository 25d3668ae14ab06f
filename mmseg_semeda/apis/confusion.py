"""``tools/band_confusion.py``: confusion matrices of trained models, inside
the band around the ground truth's edges and outside it (the interior), to
see which classes a loss moves where."""
from __future__ import annotations

import argparse
import json
from typing import Dict, List, Optional

import torch

from ..edges import boundary_bands
from ..fileio import atomic_write


def band_confusion(model, dataset, num_classes: int, width: int = 3,
                   ignore_index: int = 255) -> Dict[str, torch.Tensor]:
    """Pixel counts (C, C), ground truth by row and prediction by column,
    over ``dataset`` scored as MMSeg's test loop does (at the label's
    resolution): ``band`` = within ``width`` px of a ground-truth edge,
    ``interior`` = the other valid pixels."""
    from mmengine.dataset import pseudo_collate
    out = {k: torch.zeros(num_classes, num_classes, dtype=torch.int64)
           for k in ('band', 'interior')}
    for i in range(len(dataset)):
        with torch.no_grad():
            sample = model.test_step(pseudo_collate([dataset[i]]))[0]
        gt = sample.gt_sem_seg.data[0].long()
        pred = sample.pred_sem_seg.data[0].long().cpu()
        valid = gt != ignore_index
        band = boundary_bands(gt, (width, ), ignore_index)[width] & valid
        for key, where in (('band', band), ('interior', valid & ~band)):
            pair = gt[where] * num_classes + pred[where]
            out[key] += torch.bincount(
                pair, minlength=num_classes**2).view(num_classes, -1)
    return out


def class_iou(confusion: torch.Tensor) -> List[float]:
    """Per-class IoU (%) of a confusion matrix; NaN for a class absent
    from both ground truth and prediction."""
    c = confusion.double()
    hit = c.diag()
    union = c.sum(0) + c.sum(1) - hit
    return (100 * hit / union).tolist()


def band_share(conf: Dict[str, torch.Tensor]) -> List[float]:
    """Per class, the share of its ground-truth pixels that lie in the band
    (NaN for a class with none): how much of a class's IoU the band decides
    (a pole is nearly all band, a road nearly all interior)."""
    band = conf['band'].sum(1).double()
    return (band / (band + conf['interior'].sum(1))).tolist()


def main(argv: Optional[List[str]] = None) -> dict:
    """Score each run; print per-class IoU in the band and the interior,
    and each class's band share; write the matrices with --json."""
    from mmengine.config import Config, DictAction
    from mmengine.registry import init_default_scope
    from mmengine.runner import load_checkpoint
    from mmseg.registry import DATASETS, MODELS
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='the runs\' config (model and data)')
    p.add_argument('runs', nargs='+', metavar='NAME=CHECKPOINT')
    p.add_argument('--split', choices=('val', 'test'), default='val')
    p.add_argument('--width', type=int, default=3)
    p.add_argument('--json', default=None)
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    runs = dict(r.split('=', 1) for r in args.runs)
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    dataset = DATASETS.build(cfg[f'{args.split}_dataloader'].dataset)
    classes = list(dataset.metainfo['classes'])
    result = dict(config=args.config, split=args.split, width=args.width,
                  classes=classes, runs={})
    for name, checkpoint in runs.items():
        model = MODELS.build(cfg.model)
        load_checkpoint(model, checkpoint, map_location='cpu', strict=True)
        model.eval()
        conf = band_confusion(model, dataset, len(classes), args.width)
        result['runs'][name] = dict(
            checkpoint=checkpoint,
            **{k: v.tolist() for k, v in conf.items()},
            **{f'IoU_{k}': class_iou(v) for k, v in conf.items()})
        print(name, ' '.join(
            f'{c}: {b:.1f}/{i:.1f}' for c, b, i in zip(
                classes, result['runs'][name]['IoU_band'],
                result['runs'][name]['IoU_interior'])), flush=True)
    result['band_share'] = band_share(conf)  # the labels', not the runs'
    print('band share', ' '.join(
        f'{c}: {s:.2f}' for c, s in zip(classes, result['band_share'])))
    if args.json:
        def write(tmp: str) -> None:
            with open(tmp, 'w') as f:
                json.dump(result, f, indent=1)
        atomic_write(args.json, write)
    return result
