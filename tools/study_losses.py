"""Train loss variants over seeds and compare them with the first, seed by
seed (mean, spread, paired difference).

python tools/study_losses.py --seeds 0 1 2 --jobs 2 --threads 1 \
    --variant ce configs/semeda/deeplabv3plus_r18_camvid_cpu_ft_ce.py \
    --variant semeda configs/semeda/deeplabv3plus_r18_camvid_cpu_ft_semeda.py

Each variant is a config plus ``--cfg-options``; each (variant, seed) trains
with ``tools/train.py`` into ``WORK_DIR/<variant>_s<seed>`` (a finished run is
not trained again, one cut off is resumed from its latest checkpoint), several
at a time. The validation metrics of each run
(MMEngine's ``vis_data/scalars.json``) are then gathered into mean, spread
and the paired difference to the first variant (same seed = same
initialisation and data order, so the difference is measured seed by seed).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import os.path as osp
import re
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

from mmseg_semeda.fileio import atomic_write

#: Metrics reported, in table order.
KEYS = ('mIoU', 'mIoU_band_w1', 'mIoU_band_w3', 'mIoU_band_w5',
        'mIoU_band_w10', 'mIoU_interior_w3', 'mBF', 'mBIoU')
TOOLS = osp.dirname(osp.abspath(__file__))
TRAIN = osp.join(TOOLS, 'train.py')
TEST = osp.join(TOOLS, 'test.py')
#: Test metrics of a run, written by ``tools/test.py --metrics-out``.
TEST_METRICS = 'test_metrics.json'
#: Validation metrics of a run whose training finished but whose last
#: validation was cut off (``tools/test.py --val --metrics-out``).
VAL_METRICS = 'val_metrics.json'


def parse_variant(spec: Sequence[str]) -> dict:
    """``[NAME, CONFIG, KEY=VALUE, ...]`` -> dict(name, config, options)."""
    if len(spec) < 2 or '=' in spec[0] or any('=' not in o for o in spec[2:]):
        raise ValueError('a variant is NAME CONFIG [KEY=VALUE ...], got '
                         f'{list(spec)}')
    return dict(name=spec[0], config=spec[1], options=list(spec[2:]))


def run_dir(work_dir: str, name: str, seed: int) -> str:
    """Work directory of one run: ``WORK_DIR/<name>_s<seed>``."""
    return osp.join(work_dir, f'{name}_s{seed}')


def read_metrics(path: str) -> Optional[Dict[str, float]]:
    """The last validation metrics of a training run directory (newest
    ``*/vis_data/scalars.json`` line holding ``mIoU``, else the run's
    ``val_metrics.json``), or None."""
    for scalars in sorted(glob.glob(osp.join(path, '*', 'vis_data',
                                             'scalars.json')), reverse=True):
        found = None
        with open(scalars) as f:
            for line in f:
                row = json.loads(line)
                if 'mIoU' in row:
                    found = row
        if found is not None:
            metrics = {k: float(v) for k, v in found.items()
                       if isinstance(v, (int, float))}
            metrics.update(read_switch_iters(path))
            return metrics
    try:
        with open(osp.join(path, VAL_METRICS)) as f:
            metrics = json.load(f)['metrics']
    except FileNotFoundError:
        return None
    metrics.update(read_switch_iters(path))
    return metrics


def read_switch_iters(path: str) -> Dict[str, float]:
    """The iteration at which each SemedaLoss with the automatic start
    switched on, from the run's training log (``switch_iter.<loss_name>``;
    empty if none did or the log is gone)."""
    found = {}
    for log in sorted(glob.glob(osp.join(path, '*', '*.log'))):
        with open(log) as f:
            for line in f:
                m = re.search(r'(loss_\w+) switched on at iteration (\d+)',
                              line)
                if m:
                    found[f'switch_iter.{m.group(1)}'] = float(m.group(2))
    return found


def _last_checkpoint(path: str) -> Optional[tuple]:
    """``(checkpoint, its iteration, max_iters)`` of a run directory whose
    ``last_checkpoint`` names an existing ``iter_N.pth`` (``max_iters`` from
    the config the run dumped), or None."""
    from mmengine.config import Config
    dumped = glob.glob(osp.join(path, '*.py'))
    try:
        with open(osp.join(path, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
    except FileNotFoundError:
        return None
    m = re.fullmatch(r'iter_(\d+)\.pth', osp.basename(checkpoint))
    if len(dumped) != 1 or not m or not osp.isfile(checkpoint):
        return None
    max_iters = Config.fromfile(dumped[0]).train_cfg.get('max_iters')
    return checkpoint, int(m.group(1)), max_iters


def final_checkpoint(path: str) -> Optional[str]:
    """The checkpoint of a run whose training reached its last iteration, or
    None. Such a run whose validation was cut off (a machine that went
    away) is validated, not trained again."""
    last = _last_checkpoint(path)
    return last[0] if last and last[1] == last[2] else None


def resume_checkpoint(path: str) -> Optional[str]:
    """The latest checkpoint of a run cut before its last iteration, or
    None. Such a run is resumed from it (``tools/train.py --resume``:
    weights, optimizer, scheduler, iteration, the loss's start state), not
    trained from the first iteration."""
    last = _last_checkpoint(path)
    return last[0] if last and last[1] < last[2] else None


def read_test_metrics(path: str) -> Optional[Dict[str, float]]:
    """The metrics of the run's test set (``<run dir>/test_metrics.json``,
    see ``--test``), or None."""
    try:
        with open(osp.join(path, TEST_METRICS)) as f:
            return json.load(f)['metrics']
    except FileNotFoundError:
        return None


def _options(variant: dict, seed: int, common: Sequence[str]) -> List[str]:
    """``--cfg-options`` of one run: the seed, ``common`` and the variant's
    own, ``{seed}`` replaced by the run's seed (e.g.
    ``load_from=work_dirs/ce_s{seed}/iter_1000.pth``)."""
    return [o.replace('{seed}', str(seed)) for o in
            (f'randomness.seed={seed}', *common, *variant['options'])]


def _command(variant: dict, seed: int, work_dir: str,
             common: Sequence[str] = (), resume: bool = False) -> List[str]:
    return [sys.executable, TRAIN, variant['config'], '--work-dir',
            run_dir(work_dir, variant['name'], seed),
            *(['--resume'] if resume else []), '--cfg-options',
            *_options(variant, seed, common)]


def _test_command(variant: dict, seed: int, work_dir: str,
                  common: Sequence[str] = (), val: bool = False) -> List[str]:
    """``tools/test.py`` on the run's last checkpoint: the test split, or
    with ``val`` the validation split (into ``val_metrics.json``)."""
    path = run_dir(work_dir, variant['name'], seed)
    with open(osp.join(path, 'last_checkpoint')) as f:
        checkpoint = f.read().strip()
    split = ['--val'] if val else []
    return [sys.executable, TEST, variant['config'], checkpoint, *split,
            '--work-dir', osp.join(path, 'val' if val else 'test'),
            '--metrics-out', osp.join(path, VAL_METRICS if val
                                      else TEST_METRICS),
            '--cfg-options', *_options(variant, seed, common)]


def _done(path: str, test: bool) -> bool:
    return read_metrics(path) is not None and (
        not test or read_test_metrics(path) is not None)


def run_all(variants: List[dict], seeds: Sequence[int], work_dir: str,
            jobs: int = 1, threads: Optional[int] = None,
            common: Sequence[str] = (), test: bool = False) -> List[str]:
    """Train every (variant, seed) without metrics yet, ``jobs`` at a time,
    each with ``threads`` CPU threads and the ``--cfg-options`` ``common``
    (before the variant's own); logs go to ``<run dir>.log``. With ``test``,
    each run's last checkpoint is then scored on the config's test set
    (``tools/test.py``, in the same job slot). A run whose training finished
    but whose validation was cut off is validated from its final checkpoint
    (``tools/test.py --val``), not trained again; one cut before its last
    iteration is resumed from its latest checkpoint.

    Returns:
        list[str]: The run directories that failed.
    """
    todo = [(v, s) for s in seeds for v in variants
            if not _done(run_dir(work_dir, v['name'], s), test)]
    env = dict(os.environ)
    if threads:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    os.makedirs(work_dir, exist_ok=True)
    running: List[tuple] = []
    failed: List[str] = []
    while todo or running:
        while todo and len(running) < jobs:
            variant, seed = todo.pop(0)
            path = run_dir(work_dir, variant['name'], seed)
            if not _take_lock(path):
                print(f'[study] busy {path} (another study trains it)',
                      flush=True)
                continue
            trained = read_metrics(path) is not None
            cut = not trained and final_checkpoint(path) is not None
            resume = not (trained or cut) and resume_checkpoint(path) is not None
            if trained or cut:
                cmd = _test_command(variant, seed, work_dir, common, val=cut)
            else:
                cmd = _command(variant, seed, work_dir, common, resume)
            log = open(path + '.log', 'a' if trained or cut or resume else 'w')
            what = ('test' if trained else 'validate' if cut else
                    'resume' if resume else 'start')
            print(f'[study] {what} {path}', flush=True)
            running.append((subprocess.Popen(cmd, stdout=log,
                                             stderr=subprocess.STDOUT,
                                             env=env), path, log, time.time(),
                            variant, seed))
        time.sleep(2)
        for item in list(running):
            proc, path, log, start, variant, seed = item
            if proc.poll() is None:
                continue
            log.close()
            running.remove(item)
            ok = proc.returncode == 0 and read_metrics(path) is not None
            if ok and test and read_test_metrics(path) is None:
                todo.insert(0, (variant, seed))  # its test next, same slot
                os.remove(path + '.lock')
                continue
            os.remove(path + '.lock')
            print(f'[study] {"done" if ok else "FAILED"} {path} '
                  f'({time.time() - start:.0f} s)', flush=True)
            if not ok:
                failed.append(path)
    return failed


def _take_lock(path: str) -> bool:
    """Create ``<run dir>.lock`` holding this process id, atomically; a lock
    whose process is gone is taken over. False if a live process holds it.
    """
    lock = path + '.lock'
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                pid = int(open(lock).read().strip() or 0)
                os.kill(pid, 0)
                return False
            except (ValueError, ProcessLookupError):
                os.remove(lock)  # stale: its study is gone
                continue
            except PermissionError:
                return False
        with os.fdopen(fd, 'w') as f:
            f.write(str(os.getpid()))
        return True
    return False


def _mean_sd(values: List[float]) -> dict:
    return dict(mean=statistics.fmean(values),
                sd=statistics.stdev(values) if len(values) > 1 else None,
                n=len(values))


def summarize(variants: List[dict], seeds: Sequence[int],
              work_dir: str, reader=read_metrics) -> dict:
    """Per variant: metrics of each seed, mean and sample standard
    deviation, and the paired difference to the first variant over the
    seeds both have; ``reader`` (:func:`read_metrics`, validation, or
    :func:`read_test_metrics`) gives a run's metrics."""
    runs = {v['name']: {s: reader(run_dir(work_dir, v['name'], s))
                        for s in seeds} for v in variants}
    base = variants[0]['name']
    out = dict(baseline=base, seeds=list(seeds), variants={})
    for v in variants:
        done = {s: m for s, m in runs[v['name']].items() if m is not None}
        entry = dict(config=v['config'], options=v['options'],
                     seeds=sorted(done), per_seed=done, stats={}, delta={})
        for key in KEYS:
            vals = [m[key] for m in done.values() if key in m]
            if vals:
                entry['stats'][key] = _mean_sd(vals)
            pairs = [m[key] - runs[base][s][key] for s, m in done.items()
                     if runs[base].get(s) and key in m
                     and key in runs[base][s]]
            if pairs and v['name'] != base:
                entry['delta'][key] = _mean_sd(pairs)
        if done:
            common = set.intersection(*(set(m) for m in done.values()))
            entry['mean_metrics'] = {k: statistics.fmean(
                m[k] for m in done.values()) for k in sorted(common)}
        out['variants'][v['name']] = entry
    return out


def _fmt(stat: Optional[dict], signed: bool = False) -> str:
    if not stat:
        return '-'
    mean = f'{stat["mean"]:+.2f}' if signed else f'{stat["mean"]:.2f}'
    return mean if stat['sd'] is None else f'{mean} ± {stat["sd"]:.2f}'


def markdown(summary: dict, keys: Sequence[str] = KEYS) -> str:
    """Two tables: mean ± sd per variant, and the paired difference to the
    baseline (mean ± sd over seeds)."""
    head = '| variant | seeds | ' + ' | '.join(keys) + ' |'
    sep = '|' + '---|' * (len(keys) + 2)
    rows = [head, sep]
    drows = ['| variant − ' + summary['baseline'] + ' | seeds | ' +
             ' | '.join(keys) + ' |', sep]
    for name, e in summary['variants'].items():
        seeds = ','.join(str(s) for s in e['seeds']) or '-'
        rows.append(f'| {name} | {seeds} | ' + ' | '.join(
            _fmt(e['stats'].get(k)) for k in keys) + ' |')
        if e['delta']:
            drows.append(f'| {name} | {seeds} | ' + ' | '.join(
                _fmt(e['delta'].get(k), signed=True) for k in keys) + ' |')
    return '\n'.join(rows) + '\n\n' + '\n'.join(drows) + '\n'


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    """Command line of ``tools/study_losses.py``."""
    parser = argparse.ArgumentParser(
        description='Train loss variants over seeds and compare them with '
        'the first variant, seed by seed.')
    parser.add_argument(
        '--variant', nargs='+', action='append', required=True,
        metavar='NAME CONFIG [KEY=VALUE]',
        help='a variant: name, config and --cfg-options; the first one is '
        'the baseline; {seed} in an option becomes the run\'s seed')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--work-dir', default='work_dirs/study')
    parser.add_argument('--jobs', type=int, default=1,
                        help='runs trained at the same time')
    parser.add_argument('--threads', type=int, default=None,
                        help='CPU threads per run (OMP_NUM_THREADS)')
    parser.add_argument('--collect-only', action='store_true',
                        help='only gather the metrics of finished runs')
    parser.add_argument('--json', default=None, help='write the summary here')
    parser.add_argument('--plot', default=None,
                        help='PNG of band / interior mIoU against band width '
                        '(mean over seeds; the paper\'s Figure 5)')
    parser.add_argument('--cfg-options', nargs='+', default=[],
                        metavar='KEY=VALUE',
                        help='config options for every run ({seed}: the '
                        'run\'s seed; a variant\'s own come after them)')
    parser.add_argument('--test', action='store_true',
                        help='also score each run\'s last checkpoint on its '
                        'config\'s test set (tools/test.py); the summary '
                        'gets a "test" part')
    return parser.parse_args(argv)


def main(argv: Optional[List[str]] = None) -> dict:
    """Train what is missing, print the tables, write ``--json``; exit with
    an error naming the runs that failed."""
    args = parse_args(argv)
    variants = [parse_variant(v) for v in args.variant]
    names = [v['name'] for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f'variant names must be unique, got {names}')
    for v in variants:
        if not osp.isfile(v['config']):
            raise FileNotFoundError(f'config of {v["name"]!r} not found: '
                                    f'{v["config"]!r}')
    failed: List[str] = []
    if not args.collect_only:
        failed = run_all(variants, args.seeds, args.work_dir, args.jobs,
                         args.threads, args.cfg_options, args.test)
    summary = summarize(variants, args.seeds, args.work_dir)
    print(markdown(summary))
    if args.test:
        summary['test'] = summarize(variants, args.seeds, args.work_dir,
                                    read_test_metrics)
        print('Test set:\n\n' + markdown(summary['test']))
    if args.json:
        atomic_write(args.json, lambda tmp: json.dump(
            summary, open(tmp, 'w'), indent=1))
    if args.plot:
        from mmseg_semeda.apis.analyze import plot_trimap
        plot_trimap({name: e['mean_metrics'] for name, e in
                     summary['variants'].items() if e.get('mean_metrics')},
                    args.plot)
    if failed:
        raise SystemExit(f'{len(failed)} run(s) failed: {failed} '
                         '(see <run dir>.log)')
    return summary


if __name__ == '__main__':
    main()
