"""``tools/analyze_boundaries.py``: mIoU against band width for several
result files (the SEMEDA paper's Figure 5), as a PNG and a table."""
from __future__ import annotations

import argparse
import json
import re
from typing import Dict, List, Optional, Tuple

from ..fileio import atomic_write

_KEY = re.compile(r'mIoU_(band|interior)_w(\d+)$')


def load_metrics(path: str) -> Dict[str, float]:
    """Metrics from a JSON file of ``tools/test.py --metrics-out`` (or any
    JSON dict holding ``mIoU_band_w*`` keys, top level or under
    ``metrics``).

    Raises:
        ValueError: The file holds no trimap metrics.
    """
    with open(path) as f:
        data = json.load(f)
    metrics = data.get('metrics', data) if isinstance(data, dict) else None
    if not isinstance(metrics, dict) or not any(
            _KEY.search(k) for k in metrics):
        raise ValueError(
            f'{path}: expected metrics with mIoU_band_w* keys (from '
            'TrimapIoUMetric, e.g. tools/test.py --metrics-out), got '
            f'{sorted(metrics)[:8] if isinstance(metrics, dict) else data!r}')
    return metrics


def trimap_curves(metrics: Dict[str, float]
                  ) -> Dict[str, List[Tuple[int, float]]]:
    """``{'band': [(w, mIoU), ...], 'interior': [...]}`` sorted by width."""
    curves: Dict[str, List[Tuple[int, float]]] = dict(band=[], interior=[])
    for key, value in metrics.items():
        m = _KEY.search(key)
        if m:
            curves[m.group(1)].append((int(m.group(2)), float(value)))
    return {k: sorted(v) for k, v in curves.items()}


def plot_trimap(results: Dict[str, Dict[str, float]], out: str) -> str:
    """Two panels, band and interior mIoU against band width, a line per
    result; written atomically as PNG."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for name, metrics in results.items():
        curves = trimap_curves(metrics)
        for ax, region in zip(axes, ('band', 'interior')):
            if curves[region]:
                ws, vs = zip(*curves[region])
                ax.plot(ws, vs, marker='o', label=name)
    for ax, region in zip(axes, ('band', 'interior')):
        ax.set_xlabel('band width (pixels)')
        ax.set_ylabel(f'mIoU in the {region} (%)')
        ax.set_title(f'{region} of the ground-truth boundaries')
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, dpi=110, format='png'))
    plt.close(fig)
    return out


def markdown_table(results: Dict[str, Dict[str, float]]) -> str:
    """A Markdown table: a row per result, mIoU, band / interior mIoU per
    width and mBF when present."""
    widths = sorted({w for m in results.values()
                     for w, _ in trimap_curves(m)['band']})
    head = ['result', 'mIoU'] + [f'band w{w}' for w in widths] + [
        f'interior w{w}' for w in widths] + ['mBF']
    rows = ['| ' + ' | '.join(head) + ' |',
            '|' + '---|' * len(head)]
    for name, m in results.items():
        def fmt(key):
            return f'{m[key]:.2f}' if key in m else '-'
        cells = [name, fmt('mIoU')] + [fmt(f'mIoU_band_w{w}') for w in widths
                                       ] + [fmt(f'mIoU_interior_w{w}')
                                            for w in widths] + [fmt('mBF')]
        rows.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(rows)


def main(argv: Optional[List[str]] = None) -> str:
    """Run the tool; returns the Markdown table."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('results', nargs='+', metavar='NAME=METRICS.json',
                   help='two or more results, e.g. CE=ce.json SEMEDA=s.json')
    p.add_argument('--out', default='trimap.png', help='PNG to write')
    args = p.parse_args(argv)
    results = {}
    for item in args.results:
        name, sep, path = item.partition('=')
        if not sep or not name or not path:
            raise SystemExit(f'error: expected NAME=PATH, got {item!r}')
        results[name] = load_metrics(path)
    table = markdown_table(results)
    print(table)
    print(f'plot: {plot_trimap(results, args.out)}')
    return table
