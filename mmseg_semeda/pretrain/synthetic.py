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
                  ignore_prob: float = 0.15,
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
        ignore_prob (float): Probability that a cell or a line is void.
            Defaults to 0.15 (void next to a class is an edge, and real
            annotations have much of it: a tenth of CamVid's edge pixels).
        max_cells (int): Largest number of cells. Defaults to 40.

    Returns:
        Tensor: Long label maps (batch, size, size).
    """
    g, b = generator, batch
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float32),
                            torch.arange(size, dtype=torch.float32),
                            indexing='ij')
    coords = torch.stack([ys.flatten(), xs.flatten()], dim=1)  # (P, 2)
    # Cells: a random linear map per image makes them stretched and slanted.
    n_cells = torch.randint(2, max_cells + 1, (b, 1), generator=g)
    seeds = torch.rand(b, max_cells, 2, generator=g) * size
    scale = torch.exp(torch.randn(b, 1, 2, generator=g) * 0.7)
    angle = torch.rand(b, generator=g) * torch.pi
    cos, sin = angle.cos(), angle.sin()
    rot = torch.stack([torch.stack([cos, -sin], -1),
                       torch.stack([sin, cos], -1)], 1)  # (B, 2, 2)
    mat = rot * scale
    # Nearest seed: argmin_k |s_k|^2 - 2 <x, s_k> (|x|^2 is common to all k).
    pts, cen = coords @ mat, seeds @ mat  # (B, P, 2), (B, K, 2)
    dist = (cen * cen).sum(-1).unsqueeze(1) - 2 * pts @ cen.transpose(1, 2)
    unused = torch.arange(max_cells).unsqueeze(0) >= n_cells  # (B, K)
    dist.masked_fill_(unused.unsqueeze(1), float('inf'))
    labels = torch.randint(0, num_classes, (b, max_cells), generator=g)
    if ignore_index is not None and ignore_prob > 0:
        void = torch.rand(b, max_cells, generator=g) < ignore_prob
        labels[void] = ignore_index
    out = labels.gather(1, dist.argmin(dim=2))  # (B, P)
    # Thin lines (poles, fences, lane marks), up to 3 per image.
    n_lines = torch.randint(0, 4, (b, 1), generator=g)
    origin = torch.rand(b, 3, 2, generator=g) * size
    angle = torch.rand(b, 3, generator=g) * torch.pi
    normal = torch.stack([angle.cos(), angle.sin()], -1)  # (B, 3, 2)
    width = torch.randint(1, 4, (b, 3), generator=g).float()
    cls = torch.randint(0, num_classes, (b, 3), generator=g)
    if ignore_index is not None and ignore_prob > 0:
        void = torch.rand(b, 3, generator=g) < ignore_prob
        cls[void] = ignore_index
    for j in range(3):
        d = ((coords.unsqueeze(0) - origin[:, j:j + 1]) *
             normal[:, j:j + 1]).sum(-1).abs()  # (B, P)
        on = (d < width[:, j:j + 1] / 2) & (j < n_lines)
        out = torch.where(on, cls[:, j:j + 1], out)
    return out.view(b, size, size)


def validation_masks(num_classes: int, seed: int = 0,
                     ignore_index: Optional[int] = 255):
    """The synthetic masks an edge net's F1 is measured on: 64 Voronoi
    masks 128 x 128 drawn with seed ``seed + 1`` (apart from the training
    masks of seed ``seed``), and their description.

    Returns:
        tuple[list[Tensor], str]: 8 batches (8, 128, 128) and a description.
    """
    g = torch.Generator().manual_seed(seed + 1)
    masks = [voronoi_masks(8, 128, num_classes, g, ignore_index)
             for _ in range(8)]
    return masks, '64 synthetic masks 128x128 (seed + 1)'


#: The three sets of synthetic masks a bundled or fallback edge net's
#: one-hot edge F1 is measured on (docs/edge_nets.md): name -> (size,
#: largest number of cells, seed offset). 64 masks each, all classes drawn
#: at random, seeded apart from the training masks (seed ``seed``).
CHECK_SETS = {
    '128px_40cells': (128, 40, 1),
    '64px_40cells': (64, 40, 2),
    '96px_12cells': (96, 12, 3),
}


def check_mask_sets(num_classes: int, seed: int = 0,
                    ignore_index: Optional[int] = 255):
    """The masks of :data:`CHECK_SETS`: name -> 8 batches (8, S, S). The
    first set is :func:`validation_masks`.

    Example:
        >>> sets = check_mask_sets(4)
        >>> sorted((k, tuple(v[0].shape)) for k, v in sets.items())[0]
        ('128px_40cells', (8, 128, 128))
    """
    out = {}
    for name, (size, cells, offset) in CHECK_SETS.items():
        g = torch.Generator().manual_seed(seed + offset)
        out[name] = [voronoi_masks(8, size, num_classes, g, ignore_index,
                                   max_cells=cells) for _ in range(8)]
    return out
