"""Bundled edge-net checkpoints, the cache, and the zero-config edge net."""
from __future__ import annotations

import fcntl
import glob
import logging
import os
import os.path as osp
import time
import warnings
from typing import Dict, Optional

from mmengine.logging import print_log

from ..fileio import shipped_dir
from ..models.edge_net import SemedaEdgeNet
from ..version import __version__
from .synthetic import check_mask_sets
from .trainer import edge_metrics, pretrain_edge_net

#: Settings of the edge net pretrained on the fly for a class count that has
#: no bundled checkpoint (see ``tools/pretrain_edgenet.py`` for a net
#: trained on real annotations). Half of its batches are soft, noisy maps,
#: like the bundled ``edgenet_c*_synthetic_soft`` nets: with the
#: band-limited loss such nets gained mIoU on CamVid where one-hot ones did
#: not (docs/results.md). :func:`fallback_settings` adds what depends on the
#: class count.
FALLBACK_SETTINGS = dict(batch_size=8, crop=64, seed=0, soft_prob=0.5)
#: Above this many classes the fallback net has a class embedding of this
#: width (docs/edge_nets.md).
MANY_CLASSES = 32


def fallback_settings(num_classes: int) -> dict:
    """Pretraining settings of the fallback net for ``num_classes``: 1500
    steps up to 16 classes, 6000 up to :data:`MANY_CLASSES`, above them
    12000 and a 32-wide class embedding: what one-hot edge F1 >= 0.99 on
    random masks took at 6 to 64 classes (docs/edge_nets.md).

    Example:
        >>> fallback_settings(40)['embed_channels']
        32
    """
    many = num_classes > MANY_CLASSES
    iters = (1500 if num_classes <= 16 else
             6000 if num_classes <= MANY_CLASSES else 12000)
    return dict(FALLBACK_SETTINGS, iters=iters,
                embed_channels=MANY_CLASSES if many else None)


def bundled_checkpoints() -> Dict[str, str]:
    """Bundled checkpoint names (file stem) -> paths."""
    return {
        osp.splitext(osp.basename(p))[0]: p
        for p in sorted(glob.glob(osp.join(shipped_dir('checkpoints'),
                                           '*.pth')))
    }


def resolve_checkpoint(checkpoint: str) -> str:
    """A path as given if it exists, else a bundled checkpoint of that name
    (``'edgenet_c11_camvid'``), else the path as given (loading it then
    raises a FileNotFoundError that lists the bundled names)."""
    if osp.isfile(checkpoint):
        return checkpoint
    name = osp.splitext(osp.basename(checkpoint))[0]
    bundled = bundled_checkpoints()
    if checkpoint == name and name in bundled:
        return bundled[name]
    return checkpoint


def cache_dir() -> str:
    """Where edge nets pretrained on the fly are cached:
    ``$MMSEG_SEMEDA_CACHE`` or ``~/.cache/mmseg_semeda``."""
    return os.environ.get('MMSEG_SEMEDA_CACHE') or osp.join(
        osp.expanduser('~'), '.cache', 'mmseg_semeda')


#: Steps between the progress lines of on-the-fly pretraining in the log.
LOG_INTERVAL = 500


def pretrain_default(num_classes: int,
                     log_interval: int = 0,
                     seed: Optional[int] = None,
                     iters: Optional[int] = None) -> SemedaEdgeNet:
    """Pretrain the zero-config edge net for ``num_classes``: the recipe
    of :func:`fallback_settings` (the bundled ``*_synthetic_soft`` nets are
    this function's output), then its one-hot edge F1 on the three
    :data:`~.synthetic.CHECK_SETS` and its F1 on soft inputs of the first,
    kept in ``meta`` (``edge_f1`` is the lowest of the three).

    Args:
        num_classes (int): Class count C (2 for a binary head).
        log_interval (int): Progress lines in MMEngine's log every this many
            steps. Defaults to 0 (none).
        seed (int, optional): Seed of weights and masks in place of the
            recipe's (the check sets follow it). Defaults to None.
        iters (int, optional): Steps in place of the recipe's. Defaults to
            None.

    Returns:
        SemedaEdgeNet: The net in eval mode.
    """
    start = time.perf_counter()
    s = fallback_settings(num_classes)
    if seed is not None:
        s['seed'] = seed
    if iters is not None:
        s['iters'] = iters
    net = pretrain_edge_net(num_classes, device='cpu',
                            log_interval=log_interval, **s)
    sets = check_mask_sets(num_classes, s['seed'])
    f1 = {name: edge_metrics(net, masks)['f1']
          for name, masks in sets.items()}
    soft = edge_metrics(net, next(iter(sets.values())), soft=True,
                        seed=s['seed'])['f1']
    net.meta.update(trained_on='synthetic Voronoi masks',
                    edge_f1=min(f1.values()), edge_f1_sets=f1,
                    edge_f1_soft=soft,
                    val='one-hot F1 on 64 synthetic masks of each of ' +
                    ', '.join(f1),
                    seconds=time.perf_counter() - start,
                    package_version=__version__)
    return net


def _fallback_path(num_classes: int) -> str:
    s = fallback_settings(num_classes)
    return osp.join(
        cache_dir(), f'edgenet_c{num_classes}_synthetic_soft_it{s["iters"]}'
        f'_e{s["embed_channels"] or 0}_s{s["seed"]}_v{__version__}.pth')


def _load_or_pretrain(num_classes: int) -> SemedaEdgeNet:
    bundled = bundled_checkpoints().get(
        f'edgenet_c{num_classes}_synthetic_soft')
    if bundled is not None:
        return SemedaEdgeNet.from_checkpoint(bundled)
    path = _fallback_path(num_classes)
    if osp.isfile(path):
        return SemedaEdgeNet.from_checkpoint(path)
    os.makedirs(osp.dirname(path), exist_ok=True)
    # Once per machine: the first process pretrains under a file lock, the
    # others (DDP ranks, other jobs) wait on it, not in a collective, and
    # load the result; a lock whose holder died is free again, and the next
    # process pretrains itself.
    with open(path + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if osp.isfile(path):
                return SemedaEdgeNet.from_checkpoint(path)
            return _pretrain_and_cache(num_classes, path)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _pretrain_and_cache(num_classes: int, path: str) -> SemedaEdgeNet:
    s = fallback_settings(num_classes)
    print_log(
        f'SemedaLoss: no bundled edge net for {num_classes} classes; '
        f'pretraining one on synthetic masks ({s["iters"]} steps, seeded, '
        'on the CPU, once per machine), then caching it in '
        f'{path}. For an edge net trained on your own annotations: '
        '`python tools/pretrain_edgenet.py --ann-dir <ann dir> '
        f'--num-classes {num_classes} --out edgenet.pth`, then '
        "dict(type='SemedaLoss', checkpoint='edgenet.pth').",
        logger='current', level=logging.WARNING)
    net = pretrain_default(num_classes, LOG_INTERVAL)
    net.save(path)
    f1 = net.meta['edge_f1_sets']
    print_log(
        f'SemedaLoss: pretrained the {num_classes}-class edge net in '
        f'{net.meta["seconds"]:.0f} s: one-hot edge F1 ' +
        ' / '.join(f'{v:.3f}' for v in f1.values()) +
        f' on synthetic masks ({", ".join(f1)}); cached in {path}',
        logger='current')
    if net.meta['edge_f1'] < 0.99:
        warnings.warn(
            f'mmseg_semeda: the edge net pretrained for {num_classes} '
            f'classes finds edges with F1 {net.meta["edge_f1"]:.3f} (below '
            '0.99) on fresh synthetic masks; pretrain one with '
            'tools/pretrain_edgenet.py (more --iters) for a sharper loss.',
            UserWarning, stacklevel=3)
    return net


def default_edge_net(num_classes: int) -> SemedaEdgeNet:
    """The edge net used by ``dict(type='SemedaLoss')`` with no checkpoint.

    The bundled ``edgenet_c{num_classes}_synthetic_soft`` checkpoint
    (synthetic masks, half of the batches softened; bundled for every class
    count of MMSeg's data sets) if there is one; otherwise one pretrained
    the same way (:func:`pretrain_default`: seeded, on the CPU, with
    progress in the log) and cached, once per machine. No collective: under
    DDP every rank loads the bundled or cached file, and while one process
    pretrains the others of its machine wait on a file lock.
    """
    return _load_or_pretrain(num_classes)
