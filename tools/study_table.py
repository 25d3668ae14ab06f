"""Markdown tables of a study's paired differences, from the JSON that
``tools/study_losses.py --json`` wrote (val, and the test split with
``--test``):

    python tools/study_table.py docs/results/camvid_drive_holdout/r18_scratch_study.json \
        --pair semeda ce 'today − CE' --pair semeda_previous ce 'before − CE' \
        --test-name 'drive 0001TP' --into docs/results.md --marker 'drive table'

Each ``--pair A B LABEL`` gives, per split, A − B over the seeds both ran:
mean ± sd of the per-seed differences and each seed's Δ mIoU / Δ band w3;
then the baseline's mIoU per seed, the automatic start's switch-on
iterations and the per-class IoU differences on each split. With
``--into`` the text replaces what lies between ``<!-- MARKER -->`` and
``<!-- /MARKER -->`` in that file.
"""
from __future__ import annotations

import argparse
import json
import re
import statistics
from typing import Dict, List, Optional, Sequence

from study_losses import _fmt, _mean_sd

#: Columns, in order, and their headers.
COLUMNS = (('mIoU', 'Δ mIoU'), ('mIoU_band_w1', 'Δ band w1'),
           ('mIoU_band_w3', 'Δ band w3'), ('mIoU_band_w5', 'Δ band w5'),
           ('mIoU_interior_w3', 'Δ interior w3'), ('mBF', 'Δ mBF'),
           ('mBIoU', 'Δ mBIoU'))


def _runs(summary: dict, name: str) -> Dict[int, dict]:
    if name not in summary['variants']:
        raise KeyError(f'variant {name!r} not in the study; it has '
                       f'{sorted(summary["variants"])}')
    return {int(s): m for s, m in
            summary['variants'][name]['per_seed'].items()}


def differences(summary: dict, a: str, b: str, key: str) -> Dict[int, float]:
    """Per seed that both variants ran: ``a``'s ``key`` − ``b``'s."""
    ra, rb = _runs(summary, a), _runs(summary, b)
    return {s: ra[s][key] - rb[s][key] for s in sorted(ra)
            if s in rb and key in ra[s] and key in rb[s]}


def _signed(x: float, digits: int = 2) -> str:
    return f'{x:+.{digits}f}'.replace('-', '−')


def _stat(values: Sequence[float]) -> str:
    """Mean ± sd as study_losses' tables write it, with a minus sign."""
    return (_fmt(_mean_sd(list(values)), signed=True).replace('-', '−')
            if values else '-')


def table(splits: Dict[str, dict], pairs: Sequence[Sequence[str]]) -> str:
    """One row per (split, pair): mean ± sd of the paired differences, and
    each seed's Δ mIoU / Δ band w3."""
    head = ('| difference | split | seeds | ' +
            ' | '.join(h for _, h in COLUMNS) +
            ' | per seed: Δ mIoU / Δ band w3 |')
    rows = [head, '|' + ' --- |' * (len(COLUMNS) + 4)]
    for split, summary in splits.items():
        for a, b, label in pairs:
            cells = [differences(summary, a, b, k) for k, _ in COLUMNS]
            seeds = sorted(cells[0])
            per_seed = ', '.join(
                f'{_signed(cells[0][s])} / {_signed(cells[2][s])}'
                for s in seeds if s in cells[2])
            rows.append(f'| {label} | {split} | '
                        f'{",".join(map(str, seeds)) or "-"} | ' +
                        ' | '.join(_stat(list(c.values())) for c in cells) +
                        f' | {per_seed or "-"} |')
    return '\n'.join(rows) + '\n'


def per_class(summary: dict, a: str, b: str) -> str:
    """``class +x.x, ...``: mean over seeds of a − b in each class's IoU."""
    names = dict.fromkeys(k for m in _runs(summary, a).values() for k in m
                          if k.startswith('IoU.'))  # in the metrics' order
    return ', '.join(
        f'{k[4:]} {_signed(statistics.fmean(d.values()), 1)}' for k in names
        if (d := differences(summary, a, b, k)))


def report(summary: dict, pairs: Sequence[Sequence[str]],
           test_name: str = 'test') -> str:
    """The table, the baseline's mIoU per seed, the switch-on iterations
    and the per-class differences (val, then the test split)."""
    splits = {'val': summary}
    if summary.get('test'):
        splits[test_name] = summary['test']
    lines = [table(splits, pairs)]
    base = summary['baseline']
    lines.append(f'{base}\'s mIoU per seed: ' + '; '.join(
        f'{split} ' + ' / '.join(
            f'{m["mIoU"]:.2f}' for _, m in sorted(_runs(s, base).items()))
        for split, s in splits.items()) + '.\n')
    switches = []
    for name in summary['variants']:
        it = [f'{int(v)}' for _, m in sorted(_runs(summary, name).items())
              for k, v in m.items() if k.startswith('switch_iter.loss_')]
        if it:
            switches.append(f'{name} ' + ' / '.join(it))
    if switches:
        lines.append('Automatic start switched on at iteration (per seed): '
                     + '; '.join(switches) + '.\n')
    for split, s in splits.items():
        for a, b, label in pairs:
            text = per_class(s, a, b)
            seeds = sorted(differences(s, a, b, 'mIoU'))
            if text:
                over = (f'seed {seeds[0]}' if len(seeds) == 1 else
                        f'mean over seeds {",".join(map(str, seeds))}')
                lines.append(f'Per class on {split}, {label} ({over}): '
                             f'{text}.\n')
    return '\n'.join(lines)


def fill(path: str, marker: str, text: str) -> None:
    """Replace what lies between ``<!-- marker -->`` and ``<!-- /marker -->``
    in the file at ``path``."""
    doc = open(path).read()
    pattern = re.compile(rf'(<!-- {re.escape(marker)} -->\n).*?'
                         rf'(<!-- /{re.escape(marker)} -->)', re.S)
    if not pattern.search(doc):
        raise ValueError(f'{path} has no <!-- {marker} --> ... '
                         f'<!-- /{marker} --> block')
    with open(path, 'w') as f:
        f.write(pattern.sub(lambda m: m.group(1) + text + m.group(2), doc))


def main(argv: Optional[List[str]] = None) -> str:
    """Print the report, or write it into ``--into``; returns it."""
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('study', help='JSON of tools/study_losses.py --json')
    p.add_argument('--pair', nargs=3, action='append', required=True,
                   metavar=('A', 'B', 'LABEL'), help='rows of A − B')
    p.add_argument('--test-name', default='test',
                   help='what the test split is called in the table')
    p.add_argument('--into', help='markdown file to write the text into')
    p.add_argument('--marker', help='the block of --into to replace')
    args = p.parse_args(argv)
    if bool(args.into) != bool(args.marker):
        p.error('--into and --marker go together')
    text = report(json.load(open(args.study)), args.pair, args.test_name)
    if args.into:
        fill(args.into, args.marker, text)
    else:
        print(text)
    return text


if __name__ == '__main__':
    main()
