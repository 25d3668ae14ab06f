"""Random label maps for dataset-free edge-net pretraining."""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor


def voronoi_masks(batch: int,
                  size: int,
                  num_classes: int,
                  generator: torch.Generator,
                  ignore_index: Optional[int] = 255,
                  ignore_prob: float = 0.05,
                  max_cells: int = 40) -> Tensor:
    """Random Voronoi label maps with anisotropic cells and thin structures.

    Each map has 2 to ``max_cells`` cells under a randomly stretched distance,
    so that straight, slanted, long and small regions all occur; each cell
    takes a random class (or, with probability ``ignore_prob``, the ignore
    label), and a few one- to three-pixel-wide lines of random classes are
    drawn across, like poles and fences.

    Args:
        batch (int): Number of maps.
        size (int): Height and width.
        num_classes (int): Labels are drawn from [0, num_classes).
        generator (torch.Generator): Source of randomness (CPU).
        ignore_index (int, optional): Label of void cells; None for none.
            Defaults to 255.
        ignore_prob (float): Probability that a cell is void. Defaults to 0.05.
        max_cells (int): Largest number of cells. Defaults to 40.

    Returns:
        Tensor: Long label maps (batch, size, size).
    """
    g = generator
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32),
                            torch.arange(size, dtype=torch.float32),
                            indexing='ij')
    coords = torch.stack([ys.flatten(), xs.flatten()], dim=1)  # (P, 2)
    out = torch.empty(batch, size * size, dtype=torch.long)
    for b in range(batch):
        k = int(torch.randint(2, max_cells + 1, (1, ), generator=g))
        seeds = torch.rand(k, 2, generator=g) * size
        # A random linear map makes cells stretched and slanted.
        scale = torch.exp(torch.randn(2, generator=g) * 0.7)
        angle = torch.rand(1, generator=g) * torch.pi
        rot = torch.stack([torch.cat([angle.cos(), -angle.sin()]),
                           torch.cat([angle.sin(), angle.cos()])])
        mat = rot * scale
        dist = torch.cdist(coords @ mat, seeds @ mat)  # (P, k)
        labels = torch.randint(0, num_classes, (k, ), generator=g)
        if ignore_index is not None and ignore_prob > 0:
            void = torch.rand(k, generator=g) < ignore_prob
            labels[void] = ignore_index
        out[b] = labels[dist.argmin(dim=1)]
    out = out.view(batch, size, size)
    # Thin lines (poles, fences, lane marks).
    n_lines = torch.randint(0, 4, (batch, ), generator=g)
    for b in range(batch):
        for _ in range(int(n_lines[b])):
            p0 = torch.rand(2, generator=g) * size
            angle = torch.rand(1, generator=g) * torch.pi
            width = float(torch.randint(1, 4, (1, ), generator=g))
            normal = torch.cat([angle.cos(), angle.sin()])
            d = ((coords - p0) @ normal).abs().view(size, size)
            cls = torch.randint(0, num_classes, (1, ), generator=g)
            out[b][d < width / 2] = cls
    return out
