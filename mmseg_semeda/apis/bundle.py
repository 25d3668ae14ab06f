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

from ..pretrain.zoo import fallback_settings, pretrain_default


def build_parser() -> argparse.ArgumentParser:
    """Command line of ``tools/bundle_edgenets.py``."""
    p = argparse.ArgumentParser(
        description='Pretrain edgenet_cC_synthetic_soft for each class count '
        'C with the zero-config recipe and write it with its edge F1 on the '
        'three synthetic mask sets.')
    p.add_argument('num_classes', type=int, nargs='+', metavar='C')
    p.add_argument('--out-dir', default='checkpoints')
    p.add_argument('--results-dir', default='docs/results/edge_nets',
                   help='one JSON per net (the table of docs/edge_nets.md)')
    p.add_argument('--threads', type=int, default=None)
    p.add_argument('--log-interval', type=int, default=1000)
    return p


def main(argv: Optional[List[str]] = None) -> List[dict]:
    """Run the tool; returns one record per net."""
    args = build_parser().parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    records = []
    for c in args.num_classes:
        if c < 2:
            raise SystemExit(f'error: class counts must be >= 2, got {c}')
        net = pretrain_default(c, args.log_interval)
        path = osp.join(args.out_dir, f'edgenet_c{c}_synthetic_soft.pth')
        net.save(path)
        s = fallback_settings(c)
        record = dict(
            checkpoint=osp.basename(path), num_classes=c,
            steps=s['iters'], embed_channels=s['embed_channels'],
            edge_f1_sets=net.meta['edge_f1_sets'],
            edge_f1=net.meta['edge_f1'],
            edge_f1_soft=net.meta['edge_f1_soft'],
            seconds=round(net.meta['seconds'], 1),
            threads=torch.get_num_threads(),
            bytes=os.path.getsize(path),
            command='python tools/bundle_edgenets.py ' + ' '.join(
                sys.argv[1:] if argv is None else argv))
        if args.results_dir:
            os.makedirs(args.results_dir, exist_ok=True)
            with open(osp.join(args.results_dir, f'c{c}.json'), 'w') as f:
                json.dump(record, f, indent=1)
        f1 = ' / '.join(f'{v:.4f}' for v in record['edge_f1_sets'].values())
        print(f'{c} classes: one-hot F1 {f1}, soft {record["edge_f1_soft"]:.3f}'
              f', {record["seconds"]:.0f} s, {record["bytes"] // 1024} KB '
              f'-> {path}', flush=True)
        records.append(record)
    return records
