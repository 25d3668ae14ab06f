"""The logic of ``tools/bundle_edgenets.py``: pretrain the zero-config edge
nets that ship in ``checkpoints/`` and record how well they find edges."""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import sys
from typing import List, Optional

import torch

from ..models.edge_net import SemedaEdgeNet
from ..pretrain.synthetic import check_mask_sets
from ..pretrain.trainer import edge_metrics
from ..pretrain.zoo import fallback_settings, pretrain_default


def build_parser() -> argparse.ArgumentParser:
    """Command line of ``tools/bundle_edgenets.py``."""
    p = argparse.ArgumentParser(
        description='Pretrain edgenet_cC_synthetic_soft for each class count '
        'C with the zero-config recipe and write it with its edge F1 on the '
        'three synthetic mask sets.')
    p.add_argument('num_classes', type=int, nargs='*', metavar='C')
    p.add_argument('--measure-only', action='store_true',
                   help='measure the bundled nets of these counts (F1 on '
                   'the three mask sets) and write their records, without '
                   'pretraining')
    p.add_argument('--table', action='store_true',
                   help='print the markdown table of the records in '
                   '--results-dir and exit')
    p.add_argument('--out-dir', default='checkpoints')
    p.add_argument('--results-dir', default='docs/results/edge_nets',
                   help='one JSON per net (the table of docs/edge_nets.md)')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--seed', type=int, default=None,
                   help="the recipe's seed otherwise (0)")
    p.add_argument('--iters', type=int, default=None,
                   help="the recipe's steps otherwise")
    p.add_argument('--log-interval', type=int, default=1000)
    return p


def main(argv: Optional[List[str]] = None) -> List[dict]:
    """Run the tool; returns one record per net."""
    args = build_parser().parse_args(argv)
    if args.table:
        print(table(args.results_dir))
        return []
    if args.threads:
        torch.set_num_threads(args.threads)
    records = []
    for c in args.num_classes:
        if c < 2:
            raise SystemExit(f'error: class counts must be >= 2, got {c}')
        path = osp.join(args.out_dir, f'edgenet_c{c}_synthetic_soft.pth')
        if args.measure_only:
            net = SemedaEdgeNet.from_checkpoint(path)
            sets = check_mask_sets(c, net.meta.get('seed', 0))
            f1 = {k: edge_metrics(net, m)['f1'] for k, m in sets.items()}
            meta = dict(edge_f1_sets=f1, edge_f1=min(f1.values()),
                        edge_f1_soft=edge_metrics(
                            net, next(iter(sets.values())), soft=True)['f1'],
                        seconds=None, steps=net.meta.get('iters'),
                        embed_channels=net.embed_channels, threads=None)
            # recorded in the checkpoint too (its weights unchanged)
            net.save(path, edge_f1_sets=f1)
        else:
            net = pretrain_default(c, args.log_interval, args.seed,
                                   args.iters)
            net.save(path)
            s = fallback_settings(c)
            meta = dict(net.meta, steps=net.meta['iters'],
                        embed_channels=s['embed_channels'],
                        seconds=round(net.meta['seconds'], 1),
                        threads=torch.get_num_threads())
        record = dict(
            checkpoint=osp.basename(path), num_classes=c,
            seed=net.meta.get('seed', 0),
            steps=meta['steps'], embed_channels=meta['embed_channels'],
            edge_f1_sets=meta['edge_f1_sets'], edge_f1=meta['edge_f1'],
            edge_f1_soft=meta['edge_f1_soft'], seconds=meta['seconds'],
            threads=meta['threads'], bytes=os.path.getsize(path),
            command='python tools/bundle_edgenets.py ' + ' '.join(
                sys.argv[1:] if argv is None else argv))
        if args.results_dir:
            os.makedirs(args.results_dir, exist_ok=True)
            with open(osp.join(args.results_dir, f'c{c}.json'), 'w') as f:
                json.dump(record, f, indent=1)
        f1 = ' / '.join(f'{v:.4f}' for v in record['edge_f1_sets'].values())
        print(f'{c} classes: one-hot F1 {f1}, soft '
              f'{record["edge_f1_soft"]:.3f}, {record["seconds"]} s, '
              f'{record["bytes"] // 1024} KB -> {path}', flush=True)
        records.append(record)
    return records


#: The data sets of MMSeg 1.2.2 (and this package) per class count.
DATA_SETS = {
    2: 'DRIVE, STARE, CHASE_DB1, HRF, LEVIR-CD', 3: 'REFUGE',
    6: 'Potsdam, Vaihingen', 7: 'LoveDA', 8: 'Stanford Background',
    9: 'Synapse', 11: 'CamVid', 16: 'iSAID',
    19: 'Cityscapes, BDD100K, Dark Zurich, Nighttime Driving', 20: 'LIP',
    21: 'Pascal VOC', 27: 'NYU', 59: 'Pascal Context 59',
    60: 'Pascal Context', 66: 'Mapillary v1', 124: 'Mapillary v2',
    150: 'ADE20K', 171: 'COCO-Stuff'}


def table(results_dir: str) -> str:
    """Markdown table of the bundling records in ``results_dir``."""
    import glob
    rows = []
    for path in glob.glob(osp.join(results_dir, 'c*.json')):
        with open(path) as f:
            rows.append(json.load(f))
    lines = ['| classes | data sets | one-hot edge F1 (128 px / 64 px / 96 px '
             'masks) | soft-input F1 | steps | class embedding | seconds '
             '(threads) | size |', '| --- ' * 8 + '|']
    for r in sorted(rows, key=lambda r: r['num_classes']):
        f1 = ' / '.join(f'{v:.4f}' for v in r['edge_f1_sets'].values())
        lines.append(
            f"| {r['num_classes']} | {DATA_SETS.get(r['num_classes'], '')} "
            f"| {f1} | {r['edge_f1_soft']:.3f} | {r['steps']} | "
            f"{r['embed_channels'] or '-'} | " +
            (f"{r['seconds']:.0f} ({r['threads']})" if r['seconds'] else
             'bundled before') + f" | {r['bytes'] // 1024} KB |")
    return '\n'.join(lines)
