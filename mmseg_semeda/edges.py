"""Semantic edge maps of label maps."""
from __future__ import annotations

from typing import Optional, Union

import numpy as np
import torch

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
