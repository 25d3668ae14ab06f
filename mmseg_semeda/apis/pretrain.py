"""Command line of ``tools/pretrain_edgenet.py``."""
from __future__ import annotations

import argparse
import time
from typing import List, Optional

import torch

from ..pretrain.annotations import (
    check_labels,
    expand_ann_dirs,
    infer_num_classes,
    load_label_maps,
    parse_label_map,
)
from ..pretrain.synthetic import validation_masks
from ..pretrain.trainer import (
    crops_from_maps,
    edge_metrics,
    mixed_source,
    pretrain_edge_net,
    split_holdout,
)
from ..version import __version__


def build_parser() -> argparse.ArgumentParser:
    """Arguments of tools/pretrain_edgenet.py."""
    p = argparse.ArgumentParser(
        description='Pretrain a SEMEDA edge net on label-map PNGs (or on '
        'synthetic masks) and save it for SemedaLoss(checkpoint=...).')
    src = p.add_argument_group('data')
    src.add_argument('--ann-dir', action='append', default=[],
                     help='folder or glob of PNG label maps (palette or '
                     '8/16-bit grayscale); repeatable')
    src.add_argument('--synthetic', action='store_true',
                     help='train on random Voronoi masks (no annotations)')
    src.add_argument('--num-classes', type=int, default=None,
                     help='class count C (inferred from the data if omitted)')
    src.add_argument('--ignore-index', type=int, default=255)
    src.add_argument('--label-map', nargs='+', default=None,
                     metavar='SRC:DST', help='relabel, e.g. 11:255 (CamVid '
                     'void -> ignore)')
    src.add_argument('--reduce-zero-label', action='store_true',
                     help='0 -> ignore, k -> k-1 (ADE20K convention)')
    src.add_argument('--val-dir', action='append', default=[],
                     help='label maps to measure edge F1 on (default: a '
                     'held-out fraction of --ann-dir)')
    src.add_argument('--val-fraction', type=float, default=0.1)
    tr = p.add_argument_group('training')
    tr.add_argument('--iters', type=int, default=1500)
    tr.add_argument('--crop', type=int, default=64)
    tr.add_argument('--batch-size', type=int, default=8)
    tr.add_argument('--lr', type=float, default=1e-2)
    tr.add_argument('--channels', type=int, nargs=2, default=[16, 32],
                    metavar=('C1', 'C2'),
                    help='widths of the two hidden layers (the paper: 16 '
                    '32; 32 32 for many classes, docs/edge_nets.md)')
    tr.add_argument('--embed-channels', type=int, default=None, metavar='E',
                    help='factor the first layer through a 1x1 class '
                    'embedding of this width (for many classes, '
                    'docs/edge_nets.md)')
    tr.add_argument('--soft-prob', type=float, default=0.5,
                    help='share of batches fed as soft, noisy one-hot maps '
                    '(0: one-hot only, as in the paper); such nets suit '
                    "SemedaLoss's default band-limited loss "
                    '(docs/results.md)')
    tr.add_argument('--synthetic-share', type=float, default=0.5,
                    help='with --ann-dir: share of batches of synthetic '
                    'masks mixed in (more edges and void than real crops)')
    tr.add_argument('--seed', type=int, default=0)
    tr.add_argument('--device', default='cpu')
    p.add_argument('--out', required=True, help='output .pth file')
    p.add_argument('--quiet', action='store_true', help='no progress bar')
    return p


def _read_maps(patterns, args, label_map, what):
    """Label maps and their files from ``--ann-dir``/``--val-dir`` patterns,
    reporting unreadable files that were skipped."""
    files = expand_ann_dirs(patterns)
    maps, kept, skipped = load_label_maps(files, label_map,
                                          args.reduce_zero_label,
                                          args.ignore_index)
    if skipped:
        print(f'skipped {skipped} unreadable {what} file(s) of {len(files)}')
    return maps, kept


def _training_data(args, label_map: dict):
    """What to pretrain on and validate with: (num_classes, label source,
    description, validation maps, their description)."""
    ign = args.ignore_index
    vmaps = None
    if args.val_dir:
        vmaps, vkept = _read_maps(args.val_dir, args, label_map,
                                  'validation')
        val_desc = f'{len(vmaps)} label maps from {args.val_dir}'
    if args.synthetic:
        if args.num_classes is None:
            raise SystemExit('error: --synthetic needs --num-classes')
        num_classes, source = args.num_classes, None
        trained_on = 'synthetic Voronoi masks'
        if vmaps is None:
            return (num_classes, source, trained_on,
                    *validation_masks(num_classes, args.seed, ign))
    else:
        maps, kept = _read_maps(args.ann_dir, args, label_map, 'annotation')
        if vmaps is None:
            train, val = split_holdout(list(zip(maps, kept)),
                                       args.val_fraction, args.seed)
            maps, kept = [list(x) for x in zip(*train)]
            vmaps, vkept = [list(x) for x in zip(*val)]
            val_desc = (f'{len(vmaps)} held-out label maps '
                        f'({args.val_fraction:.0%})')
        num_classes = args.num_classes
        if num_classes is None:
            num_classes = infer_num_classes(maps + vmaps, ign)
            print(f'--num-classes not given: inferred {num_classes} from '
                  'the largest label (pass it to be sure)')
        check_labels(maps, kept, num_classes, ign)
        source = crops_from_maps(maps, args.crop, ign)
        trained_on = f'{len(maps)} label maps from {args.ann_dir}'
        if args.synthetic_share > 0:
            source = mixed_source(source, num_classes, args.crop, ign,
                                  args.synthetic_share)
            trained_on += (f' + synthetic Voronoi masks '
                           f'({args.synthetic_share:.0%} of batches)')
    check_labels(vmaps, vkept, num_classes, ign)
    return (num_classes, source, trained_on,
            [torch.from_numpy(m) for m in vmaps], val_desc)


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the tool; returns the checkpoint metadata."""
    args = build_parser().parse_args(argv)
    start = time.perf_counter()
    if args.synthetic == bool(args.ann_dir):
        raise SystemExit('error: give either --ann-dir DIR or --synthetic')
    label_map = parse_label_map(args.label_map)
    ign = args.ignore_index
    num_classes, source, trained_on, val_maps, val_desc = _training_data(
        args, label_map)
    print(f'pretraining an edge net for {num_classes} classes on '
          f'{trained_on}: {args.iters} iters, batch {args.batch_size}, '
          f'crop {args.crop}, {args.device}')
    net = pretrain_edge_net(
        num_classes, source, iters=args.iters, batch_size=args.batch_size,
        crop=args.crop, lr=args.lr, soft_prob=args.soft_prob,
        ignore_index=ign, seed=args.seed, device=args.device,
        channels=args.channels, embed_channels=args.embed_channels,
        progress=not args.quiet)
    if not args.quiet:
        print()
    hard = edge_metrics(net, val_maps, ign)
    soft = edge_metrics(net, val_maps, ign, soft=True, seed=args.seed)
    seconds = time.perf_counter() - start
    meta = dict(trained_on=trained_on, ignore_index=ign,
                label_map={str(k): v for k, v in label_map.items()},
                reduce_zero_label=args.reduce_zero_label,
                val=val_desc, edge_precision=hard['precision'],
                edge_recall=hard['recall'], edge_f1=hard['f1'],
                edge_f1_soft=soft['f1'], seconds=seconds,
                package_version=__version__)
    net.save(args.out, **meta)
    print(f"edge precision {hard['precision']:.4f}  recall "
          f"{hard['recall']:.4f}  F1 {hard['f1']:.4f}  (soft inputs: F1 "
          f"{soft['f1']:.4f})  on {val_desc}")
    print(f'{seconds:.1f} s; saved {args.out}')
    return net.meta
