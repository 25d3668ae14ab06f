"""Label-map helpers: semantic edges and the bands around them, the valid
(non-ignore) mask and one-hot maps."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

ArrayLike = Union[torch.Tensor, np.ndarray]


def semantic_edges(label: ArrayLike,
                   ignore_index: Optional[int] = None) -> ArrayLike:
    """Mark the pixels whose 8 neighbours do not all share their label.

    A pixel is an edge if at least one of its 8 neighbours has a different
    label. Missing neighbours at the image border are replicated, so the border
    itself creates no edges. The ignore label takes part in the comparison like
    any other label (a class pixel next to void is an edge); when
    ``ignore_index`` is given, pixels carrying it are never marked themselves.

    Args:
        label (Tensor | np.ndarray): Integer label map of shape (N, H, W) or
            (H, W).
        ignore_index (int, optional): Label whose pixels are never edges.
            Defaults to None (every label is an ordinary label).

    Returns:
        Tensor | np.ndarray: Boolean edge map of the same shape and kind
        (torch or numpy) as ``label``.

    Example:
        >>> import torch
        >>> label = torch.tensor([[0, 0, 1, 1]] * 3)
        >>> semantic_edges(label).int()
        tensor([[0, 1, 1, 0],
                [0, 1, 1, 0],
                [0, 1, 1, 0]], dtype=torch.int32)
    """
    if not isinstance(label, (torch.Tensor, np.ndarray)):
        raise TypeError('label must be a torch.Tensor or np.ndarray, '
                        f'got {type(label).__name__}')
    if label.ndim not in (2, 3):
        raise ValueError('label must have shape (N, H, W) or (H, W), '
                         f'got {tuple(label.shape)}')
    if label.dtype in (torch.float16, torch.bfloat16, torch.float32,
                       torch.float64) or (isinstance(label, np.ndarray) and
                                          label.dtype.kind == 'f'):
        raise TypeError(f'label must be an integer map, got {label.dtype}')
    is_torch = isinstance(label, torch.Tensor)
    if is_torch and few_launches(label):
        # the window's max differs from its min: a few kernels, not dozens
        x = F.pad(label.reshape(-1, 1, *label.shape[-2:]).float(),
                  (1, 1, 1, 1), mode='replicate')
        edge = (F.max_pool2d(x, 3, 1) != -F.max_pool2d(-x, 3, 1)).view(
            label.shape)
        return edge & (label != ignore_index) if ignore_index is not None \
            else edge
    edge = (torch.zeros_like(label, dtype=torch.bool)
            if is_torch else np.zeros(label.shape, dtype=bool))
    # Each of the 4 neighbour directions marks both pixels of a differing pair,
    # which covers all 8 neighbours; border pixels lack the missing ones, which
    # is the same as replicate padding.
    for src, dst in (
        ((..., slice(None), slice(1, None)), (..., slice(None), slice(None, -1))),
        ((..., slice(1, None), slice(None)), (..., slice(None, -1), slice(None))),
        ((..., slice(1, None), slice(1, None)), (..., slice(None, -1), slice(None, -1))),
        ((..., slice(1, None), slice(None, -1)), (..., slice(None, -1), slice(1, None))),
    ):
        diff = label[src] != label[dst]
        edge[src] |= diff
        edge[dst] |= diff
    if ignore_index is not None:
        edge &= label != ignore_index
    return edge


def few_launches(t: Tensor) -> bool:
    """Whether the label-map helpers take their form of few operators (off
    the CPU, where each operator is a kernel launch) rather than the one
    that is fastest on a CPU (shifted comparisons: ~15x faster there than
    pooling, many more operators). Both are tested equal."""
    return t.device.type != 'cpu'


def valid_mask(label: Tensor, ignore_index: Optional[int]) -> Tensor:
    """Boolean mask of the pixels whose label is not ``ignore_index``
    (everything when it is None)."""
    if ignore_index is None:
        return torch.ones_like(label, dtype=torch.bool)
    return label != ignore_index


def onehot(label: Tensor, num_classes: int,
           ignore_index: Optional[int]) -> Tensor:
    """One-hot maps (N, C, H, W) float32 of labels (N, H, W), with all-zero
    class vectors at ignore pixels."""
    valid = valid_mask(label, ignore_index)
    out = F.one_hot(torch.where(valid, label, 0), num_classes)
    return (out * valid.unsqueeze(-1)).permute(0, 3, 1, 2).float()


def dilate(mask: Tensor, radius: int) -> Tensor:
    """Pixels within Chebyshev distance ``radius`` of ``mask`` (..., H, W),
    bool: a square window is a row window of a column window, each an OR of
    shifted copies (on a CPU ~15x faster than a max pool of the float map
    at radius 2)."""
    if radius <= 0:
        return mask
    if few_launches(mask):  # a separable max pool
        x = mask.reshape(-1, 1, *mask.shape[-2:]).float()
        size = 2 * radius + 1
        x = F.max_pool2d(x, (1, size), 1, (0, radius))
        x = F.max_pool2d(x, (size, 1), 1, (radius, 0))
        return x.view(mask.shape) > 0
    mask = mask.bool()
    for dim in (-2, -1):
        out = mask.clone()
        size = mask.shape[dim]
        for s in range(1, min(radius, size - 1) + 1):
            out.narrow(dim, s, size - s).logical_or_(
                mask.narrow(dim, 0, size - s))
            out.narrow(dim, 0, size - s).logical_or_(
                mask.narrow(dim, s, size - s))
        mask = out
    return mask


def boundary_bands(label: Tensor, widths: Sequence[int],
                   ignore_index: Optional[int] = 255) -> Dict[int, Tensor]:
    """Boundary band of each width ``w``: pixels whose Chebyshev distance to
    a ground-truth semantic edge pixel (:func:`semantic_edges`, ignore pixels
    never edges) is below ``w``. ``w = 1`` is the edge pixels themselves (a
    two-pixel-wide line along each boundary), ``w = 3`` adds two pixels on
    each side. SEMEDA's ``band_width`` and the trimap metric use these.

    Args:
        label (Tensor): Ground truth (..., H, W).
        widths (Sequence[int]): Band widths, each >= 1.
        ignore_index (int, optional): Ignore label. Defaults to 255.

    Returns:
        dict[int, Tensor]: Boolean band (..., H, W) per width.
    """
    edges = semantic_edges(label, ignore_index)
    return {w: dilate(edges, w - 1) for w in widths}
