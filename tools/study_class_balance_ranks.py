"""How much SEMEDA's class-balance weights change when each DDP rank counts
classes over its own images rather than over the whole batch:

    python tools/study_class_balance_ranks.py --json out.json

``class_balance=True`` weights each band pixel by ``n_c ** -0.5`` with
``n_c`` counted in the batch the loss is given; under DDP that is one rank's
images. For draws of 8 training crops (the CPU schedule's 176x240, ground
truth only, no model) this compares, on the same pixels:

- ``per_rank_2``: 4 ranks of 2 crops each (MMSeg's 4 GPUs x 2 images)
  against the 8 crops counted together (what an all-reduce would give);
- ``per_rank_4``: 2 ranks of 4 (this project's CPU batch) against the 8;
- ``other_batch``: the 8 counted together against the same first 4 crops
  counted with 4 other crops: how much the weights of a pixel already move
  with the images that happen to share its batch.

Each figure is ``sum |w - w_ref| / sum w_ref`` over the band pixels, the
mean and sd over the draws. ``shares`` gives, per class, its share of the
band's pixels and its share of the band's weight with class balance (the 8
crops counted together), summed over the draws: what class balance moves
from frequent classes to rare ones.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import statistics

import mmcv
import numpy as np
import torch

from mmseg_semeda.edges import boundary_bands
from mmseg_semeda.fileio import atomic_write
from mmseg_semeda.models.losses.semeda_loss import _class_balance

DATA = {
    # name: (annotation folder, classes, size (w, h) of the test pipeline,
    #        labels mapped to the ignore index)
    'camvid': ('../shared/data/camvid/annotations/train', 11, (240, 180),
               (11, )),
    'stanford_background': (
        '../shared/data/stanford_background/annotations/train', 8,
        (320, 240), ()),
}
CROP = (176, 240)


def load(folder: str, size, void) -> list:
    """Every label map of ``folder`` at the test pipeline's size, void
    labels set to 255."""
    maps = []
    for name in sorted(os.listdir(folder)):
        label = mmcv.imread(osp.join(folder, name), 'unchanged')
        label = mmcv.imrescale(label, size, interpolation='nearest')
        for v in void:
            label[label == v] = 255
        maps.append(torch.from_numpy(label.astype(np.int64)))
    return maps


def crop(label: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """A random ``CROP`` of ``label``, padded with 255 where it is
    smaller."""
    h, w = label.shape
    top = rng.integers(0, max(h - CROP[0], 0) + 1)
    left = rng.integers(0, max(w - CROP[1], 0) + 1)
    out = torch.full(CROP, 255, dtype=torch.int64)
    part = label[top:top + CROP[0], left:left + CROP[1]]
    out[:part.shape[0], :part.shape[1]] = part
    return out


def weights(target: torch.Tensor, num_classes: int, group: int):
    """Class-balance weights and band of ``target`` (N, H, W), the classes
    counted over each ``group`` consecutive images."""
    band = boundary_bands(target, (3, ), 255)[3]
    valid = (target != 255).float()
    parts = [_class_balance(t, v, b, num_classes)
             for t, v, b in zip(target.split(group), valid.split(group),
                                band.split(group))]
    return torch.cat(parts), band


def rel_l1(w: torch.Tensor, ref: torch.Tensor, band: torch.Tensor) -> float:
    """``sum |w - ref| / sum ref`` over the band."""
    return float((w - ref).abs()[band].sum() / ref[band].sum())


def study(name: str, draws: int, seed: int) -> dict:
    """The three figures (mean, sd over ``draws``) for one data set."""
    folder, num_classes, size, void = DATA[name]
    maps = load(folder, size, void)
    rng = np.random.default_rng(seed)
    figures = {'per_rank_2': [], 'per_rank_4': [], 'other_batch': []}
    pixels = torch.zeros(num_classes, dtype=torch.float64)
    weight = torch.zeros(num_classes, dtype=torch.float64)
    for _ in range(draws):
        pick = rng.choice(len(maps), 12, replace=False)
        crops = torch.stack([crop(maps[i], rng) for i in pick])
        batch = crops[:8]
        together, band = weights(batch, num_classes, 8)
        acting = band & (batch != 255)
        label = batch[acting]
        pixels += torch.bincount(label, minlength=num_classes).double()
        weight += torch.bincount(label, together[acting].double(),
                                 minlength=num_classes)
        for group in (2, 4):
            w, _ = weights(batch, num_classes, group)
            figures[f'per_rank_{group}'].append(rel_l1(w, together, band))
        other, _ = weights(torch.cat([crops[:4], crops[8:]]), num_classes, 8)
        figures['other_batch'].append(
            rel_l1(together[:4], other[:4], band[:4]))
    out = {k: dict(mean=statistics.mean(v), sd=statistics.stdev(v))
           for k, v in figures.items()}
    out['shares'] = dict(band_pixels=(pixels / pixels.sum()).tolist(),
                         band_weight=(weight / weight.sum()).tolist())
    return out


def main() -> None:
    """Print the figures of both data sets; write them with --json."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--draws', type=int, default=200)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--json', help='write the figures here')
    args = parser.parse_args()
    out = dict(draws=args.draws, seed=args.seed, crop=CROP, band_width=3)
    for name in DATA:
        out[name] = study(name, args.draws, args.seed)
        for key, v in out[name].items():
            if key == 'shares':
                print(f'{name:20s} band pixel / weight share per class: ' +
                      ' '.join(f'{p:.3f}/{w:.3f}' for p, w in zip(
                          v['band_pixels'], v['band_weight'])))
            else:
                print(f'{name:20s} {key:12s} {v["mean"]:.3f} +- '
                      f'{v["sd"]:.3f}')
    if args.json:
        def write(tmp: str) -> None:
            with open(tmp, 'w') as f:
                json.dump(out, f, indent=1)
                f.write('\n')
        atomic_write(args.json, write)


if __name__ == '__main__':
    main()
