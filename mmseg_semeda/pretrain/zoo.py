"""Bundled edge-net checkpoints, the cache, and the zero-config edge net."""
from __future__ import annotations

import glob
import os
import os.path as osp
import warnings
from typing import Dict

import torch

from ..fileio import shipped_dir
from ..models.edge_net import SemedaEdgeNet
from ..version import __version__
from .synthetic import validation_masks
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


def _load_or_pretrain(num_classes: int) -> SemedaEdgeNet:
    bundled = bundled_checkpoints().get(
        f'edgenet_c{num_classes}_synthetic_soft')
    if bundled is not None:
        return SemedaEdgeNet.from_checkpoint(bundled)
    s = fallback_settings(num_classes)
    path = osp.join(
        cache_dir(), f'edgenet_c{num_classes}_synthetic_soft_it{s["iters"]}'
        f'_e{s["embed_channels"] or 0}_s{s["seed"]}_v{__version__}.pth')
    if osp.isfile(path):
        return SemedaEdgeNet.from_checkpoint(path)
    warnings.warn(
        f'mmseg_semeda: no bundled edge net for {num_classes} classes; '
        f'pretraining one on synthetic masks ({s["iters"]} steps, seeded, '
        f'CPU: minutes, once) and caching it in {path}. For an edge net '
        'trained on your own annotations run '
        '`python tools/pretrain_edgenet.py --ann-dir <ann dir> --num-classes '
        f'{num_classes} --out edgenet.pth` and set '
        "dict(type='SemedaLoss', checkpoint='edgenet.pth').",
        UserWarning,
        stacklevel=3)
    net = pretrain_edge_net(num_classes, device='cpu', **s)
    # measured as tools/pretrain_edgenet.py does
    masks, described = validation_masks(num_classes, s['seed'])
    f1 = edge_metrics(net, masks)['f1']
    if f1 < 0.99:
        warnings.warn(
            f'mmseg_semeda: the edge net pretrained for {num_classes} '
            f'classes finds edges with F1 {f1:.3f} (below 0.99) on fresh '
            'synthetic masks; pretrain one with tools/pretrain_edgenet.py '
            '(more --iters) for a sharper loss.', UserWarning, stacklevel=3)
    net.meta.update(trained_on='synthetic Voronoi masks (on the fly)',
                    edge_f1=f1, val=described)
    net.save(path)
    return net


def default_edge_net(num_classes: int) -> SemedaEdgeNet:
    """The edge net used by ``dict(type='SemedaLoss')`` with no checkpoint.

    The bundled ``edgenet_c{num_classes}_synthetic_soft`` checkpoint
    (synthetic masks, half of the batches softened) if there is one;
    otherwise one pretrained the same way (deterministic, seconds on the
    CPU) and cached, with a warning. The one-hot nets of the paper stay
    available by name (``edgenet_c21_synthetic``, ...). Under
    ``torch.distributed`` rank 0 loads or trains it and broadcasts the
    weights, so every rank holds the same net.
    """
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized() and \
            dist.get_world_size() > 1:
        from mmengine.dist import broadcast_object_list
        box = [None]
        if dist.get_rank() == 0:
            net = _load_or_pretrain(num_classes)
            box = [(net.state_dict(), net.meta, net.channels,
                    net.kernel_size, net.embed_channels)]
        broadcast_object_list(box, src=0)
        state, meta, channels, kernel_size, embed_channels = box[0]
        with torch.random.fork_rng(devices=[]):
            net = SemedaEdgeNet(num_classes, channels, kernel_size,
                                embed_channels)
        net.load_state_dict(state)
        net.meta = dict(meta)
        return net.eval()
    return _load_or_pretrain(num_classes)

