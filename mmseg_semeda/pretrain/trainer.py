"""Pretraining the edge net: from label maps to semantic edges."""
from __future__ import annotations

import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..edges import onehot, semantic_edges
from ..models.edge_net import SemedaEdgeNet
from .synthetic import voronoi_masks

LabelSource = Callable[[int, torch.Generator], Tensor]


def soften(onehot: Tensor, generator: torch.Generator,
           max_noise: float = 2.0, min_temp: float = 1.0,
           max_temp: float = 8.0) -> Tensor:
    """Soft, noisy versions of one-hot maps, like the softmax of a network
    that is not yet sure: ``softmax(t * onehot + noise)`` per image, with a
    random temperature ``t`` in [``min_temp``, ``max_temp``] and noise std in
    [0, ``max_noise``]; all-zero (ignore) vectors stay zero."""
    n = onehot.shape[0]
    t = min_temp + (max_temp - min_temp) * torch.rand(
        n, 1, 1, 1, generator=generator)
    std = max_noise * torch.rand(n, 1, 1, 1, generator=generator)
    noise = torch.randn(onehot.shape, generator=generator) * std
    valid = onehot.sum(dim=1, keepdim=True)
    return (t * onehot + noise).softmax(dim=1) * valid


def crops_from_maps(maps: Sequence[np.ndarray], crop: int,
                    ignore_index: int) -> LabelSource:
    """A sampler of random crops (with flips) from real label maps; maps
    smaller than ``crop`` are padded with ``ignore_index``."""
    tensors = [torch.from_numpy(np.ascontiguousarray(m)).long() for m in maps]

    def sample(batch: int, g: torch.Generator) -> Tensor:
        out = torch.full((batch, crop, crop), ignore_index, dtype=torch.long)
        idx = torch.randint(0, len(tensors), (batch, ), generator=g)
        for b, i in enumerate(idx.tolist()):
            m = tensors[i]
            h, w = m.shape
            y = int(torch.randint(0, max(h - crop, 0) + 1, (1, ),
                                  generator=g))
            x = int(torch.randint(0, max(w - crop, 0) + 1, (1, ),
                                  generator=g))
            patch = m[y:y + crop, x:x + crop]
            if bool(torch.rand(1, generator=g) < 0.5):
                patch = patch.flip(-1)
            out[b, :patch.shape[0], :patch.shape[1]] = patch
        return out

    return sample


def synthetic_source(num_classes: int, crop: int,
                     ignore_index: Optional[int]) -> LabelSource:
    """A sampler of random Voronoi label maps (see :func:`voronoi_masks`)."""

    def sample(batch: int, g: torch.Generator) -> Tensor:
        return voronoi_masks(batch, crop, num_classes, g, ignore_index)

    return sample


def mixed_source(source: LabelSource, num_classes: int, crop: int,
                 ignore_index: Optional[int], share: float) -> LabelSource:
    """Draw a batch from the synthetic sampler with probability ``share``,
    else from ``source``."""
    synthetic = synthetic_source(num_classes, crop, ignore_index)

    def sample(batch: int, g: torch.Generator) -> Tensor:
        if float(torch.rand(1, generator=g)) < share:
            return synthetic(batch, g)
        return source(batch, g)

    return sample


def edge_targets(labels: Tensor, ignore_index: Optional[int]) -> Tensor:
    """Pretraining targets: semantic edges with ignore as a label of its own,
    and ``-100`` (skipped by the cross-entropy) at ignore pixels."""
    target = semantic_edges(labels).long()
    if ignore_index is not None:
        target[labels == ignore_index] = -100
    return target


@torch.no_grad()
def edge_metrics(net: SemedaEdgeNet,
                 maps: Sequence[Tensor],
                 ignore_index: Optional[int] = 255,
                 soft: bool = False,
                 seed: int = 0,
                 threshold: float = 0.5) -> Dict[str, float]:
    """Pixel-level edge precision, recall and F1 of ``net`` on label maps.

    Args:
        net (SemedaEdgeNet): The edge net.
        maps (Sequence[Tensor]): Label maps (H, W) or (N, H, W).
        ignore_index (int, optional): Pixels with this label are not scored.
            Defaults to 255.
        soft (bool): Feed :func:`soften`-ed inputs instead of one-hot maps.
            Defaults to False.
        seed (int): Seed of the softening noise. Defaults to 0.
        threshold (float): Edge probability threshold. Defaults to 0.5.

    Returns:
        dict[str, float]: ``precision``, ``recall``, ``f1``, ``pixels``.
    """
    device = net.conv1.weight.device
    g = torch.Generator().manual_seed(seed)
    tp = fp = fn = pixels = 0
    for m in maps:
        labels = m if m.ndim == 3 else m.unsqueeze(0)
        x = onehot(labels, net.num_classes, ignore_index)
        if soft:
            x = soften(x, g)
        pred = net.predict_edges(x.to(device)).cpu() > threshold
        target = edge_targets(labels, ignore_index)
        scored = target != -100
        truth = target == 1
        tp += int((pred & truth & scored).sum())
        fp += int((pred & ~truth & scored).sum())
        fn += int((~pred & truth & scored).sum())
        pixels += int(scored.sum())
    precision = tp / max(tp + fp, 1)
    recall = tp / max(tp + fn, 1)
    f1 = 2 * precision * recall / max(precision + recall, 1e-12)
    return dict(precision=precision, recall=recall, f1=f1, pixels=pixels)


def pretrain_edge_net(num_classes: int,
                      source: Optional[LabelSource] = None,
                      iters: int = 1500,
                      batch_size: int = 8,
                      crop: int = 64,
                      lr: float = 1e-2,
                      soft_prob: float = 0.0,
                      ignore_index: Optional[int] = 255,
                      seed: int = 0,
                      device: str = 'cpu',
                      channels: Sequence[int] = (16, 32),
                      embed_channels: Optional[int] = None,
                      progress: bool = False,
                      log_interval: int = 0) -> SemedaEdgeNet:
    """Train a :class:`SemedaEdgeNet` to predict semantic edges.

    The input is the one-hot map of a label map (all zeros at ignore pixels),
    as in the paper; with probability ``soft_prob`` per batch it is softened
    by :func:`soften` instead. Off here (the paper's pretraining); the
    bundled ``*_soft`` nets and ``tools/pretrain_edgenet.py`` use 0.5: it
    costs a little edge F1 on one-hot maps (0.983 vs 0.997 on CamVid val)
    but made the SEMEDA loss gain mIoU on CamVid (docs/results.md). The
    target is :func:`edge_targets`; the loss is a pixel-wise cross-entropy
    that skips ignore pixels. Deterministic for a given seed on the CPU.

    Args:
        num_classes (int): Class count C.
        source (callable, optional): ``source(batch, generator)`` returning
            label maps (B, crop, crop). Defaults to None (random Voronoi
            masks, :func:`synthetic_source`).
        iters (int): Adam steps. Defaults to 1500.
        batch_size (int): Label maps per step. Defaults to 8.
        crop (int): Size of the synthetic masks. Defaults to 64.
        lr (float): Adam learning rate (cosine-annealed). Defaults to 1e-2.
        soft_prob (float): Probability that a batch is softened.
            Defaults to 0.0.
        ignore_index (int, optional): Ignore label. Defaults to 255.
        seed (int): Seed of weights and data. Defaults to 0.
        device (str): Torch device. Defaults to 'cpu'.
        channels (Sequence[int]): Hidden widths. Defaults to (16, 32).
        embed_channels (int, optional): Width of the class embedding of the
            first layer (see :class:`SemedaEdgeNet`). Defaults to None.
        progress (bool): Show a progress bar. Defaults to False.
        log_interval (int): Every this many steps, a line with the step,
            the loss and an ETA through MMEngine's current logger (the
            training log, when a Runner is running). Defaults to 0 (none).

    Returns:
        SemedaEdgeNet: The trained net in eval mode, with ``meta`` holding
        the training settings and seconds taken.
    """
    start = time.perf_counter()
    # The caller's random streams stay as they were (the loss pretrains a
    # zero-config net in the middle of a training): only the CPU generator
    # is used here, seeded inside a fork of it.
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(seed)
        g = torch.Generator().manual_seed(seed)
        if source is None:
            source = synthetic_source(num_classes, crop, ignore_index)
        net = SemedaEdgeNet(num_classes, channels,
                            embed_channels=embed_channels).to(device)
        # A one-hot convolution is faster for few classes, lookups for many.
        lookup = num_classes > 32
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, iters)
        bar = None
        if progress:
            from mmengine.utils import ProgressBar
            bar = ProgressBar(iters)
        for step in range(1, iters + 1):
            labels = source(batch_size, g)
            target = edge_targets(labels, ignore_index)
            if soft_prob > 0 and bool(torch.rand(1, generator=g) < soft_prob):
                x = soften(onehot(labels, num_classes, ignore_index), g)
                logits = net.edge_logits(x.to(device))
            elif lookup:  # the first layer as weight lookups: cheap for any C
                logits = net.edge_logits_labels(labels.to(device), ignore_index)
            else:
                x = onehot(labels, num_classes, ignore_index)
                logits = net.edge_logits(x.to(device))
            loss = F.cross_entropy(logits, target.to(device), ignore_index=-100)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            if bar is not None:
                bar.update()
            if log_interval and step % log_interval == 0 and step < iters:
                _log_progress(num_classes, step, iters, float(loss.detach()),
                              time.perf_counter() - start)
    net.eval()
    net.meta.update(
        iters=iters, batch_size=batch_size, crop=crop, lr=lr,
        soft_prob=soft_prob, seed=seed, ignore_index=ignore_index,
        final_loss=float(loss.detach()),
        train_seconds=time.perf_counter() - start)
    return net


def _log_progress(num_classes: int, step: int, iters: int, loss: float,
                  seconds: float) -> None:
    from mmengine.logging import print_log
    eta = seconds / step * (iters - step)
    print_log(f'SemedaLoss: pretraining the {num_classes}-class edge net: '
              f'step {step}/{iters}, loss {loss:.4f}, {seconds:.0f} s, ETA '
              f'{eta:.0f} s', logger='current')


def split_holdout(maps: List, fraction: float, seed: int = 0):
    """Split a list into (train, val) with ``fraction`` of it held out."""
    if not 0 < fraction < 1:
        raise ValueError(f'held-out fraction must be in (0, 1), got '
                         f'{fraction}')
    order = np.random.default_rng(seed).permutation(len(maps))
    n_val = max(1, int(round(len(maps) * fraction)))
    if n_val >= len(maps):
        raise ValueError(f'cannot hold out {fraction:.0%} of {len(maps)} '
                         'label maps and keep some for training')
    val = [maps[i] for i in order[:n_val]]
    train = [maps[i] for i in order[n_val:]]
    return train, val
