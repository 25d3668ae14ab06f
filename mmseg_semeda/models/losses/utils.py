"""Input checks and masking shared by the edge-aware losses."""
from __future__ import annotations

from typing import Optional, Tuple

import torch
from mmseg.models.losses.utils import weight_reduce_loss
from torch import Tensor

from ...edges import valid_mask


def check_seg_inputs(pred: Tensor,
                     target: Tensor,
                     ignore_index: Optional[int],
                     num_classes: Optional[int] = None,
                     check_labels: bool = True) -> None:
    """Raise a clear error unless ``pred`` (N, C, H, W) and ``target`` (N, H,
    W) form a valid pair for a segmentation loss."""
    if not isinstance(pred, Tensor) or not isinstance(target, Tensor):
        raise TypeError('pred and target must be tensors, got '
                        f'{type(pred).__name__} and {type(target).__name__}')
    if pred.ndim != 4:
        raise ValueError(
            f'Invalid pred shape: expected logits (N, C, H, W), got '
            f'{tuple(pred.shape)}')
    if not pred.is_floating_point():
        raise TypeError(f'pred must hold float logits, got {pred.dtype}')
    if target.dtype != torch.long:
        hint = '' if target.is_floating_point() or target.dtype == \
            torch.bool else '; convert it with target.long()'
        raise TypeError('target must be an integer label map (long), got '
                        f'{target.dtype}{hint}')
    n, c, h, w = pred.shape
    if tuple(target.shape) != (n, h, w):
        raise ValueError(
            f'Invalid target shape: expected (N, H, W) = {(n, h, w)} to match '
            f'pred {tuple(pred.shape)}, got {tuple(target.shape)}')
    if num_classes is not None and c != num_classes:
        raise ValueError(
            f'pred has {c} classes but the edge net was built for '
            f'{num_classes}; use an edge net pretrained for {c} classes')
    if check_labels and target.numel():
        classes = max(c, 2)  # a binary head's 1 channel: labels 0 and 1
        bad = (target < 0) | (target >= classes)
        if ignore_index is not None:
            bad &= target != ignore_index
        if bool(bad.any()):
            values = torch.unique(target[bad])[:10].tolist()
            what = (' (1-channel logits: a binary head, labels 0 and 1)'
                    if c == 1 else '')
            raise ValueError(
                f'target labels must be in [0, {classes}) or ignore_index='
                f'{ignore_index}{what}, got {values}')


class _MaskedSoftmax(torch.autograd.Function):
    """``softmax(x, 1) * valid`` saving one tensor: the masked output is
    all the softmax backward needs (its gradient is 0 where it is 0)."""

    @staticmethod
    def forward(ctx, x: Tensor, valid: Tensor) -> Tensor:
        out = x.softmax(dim=1).mul_(valid.unsqueeze(1))
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        out, = ctx.saved_tensors
        return torch._softmax_backward_data(grad.contiguous(), out, 1,
                                            out.dtype), None


def masked_softmax(pred: Tensor, valid: Tensor) -> Tensor:
    """``softmax(pred, 1) * valid``: class probabilities (N, C, H, W) with
    zero class vectors where ``valid`` (N, H, W) is 0, saving only them for
    backward."""
    return _MaskedSoftmax.apply(pred, valid)


def masked_inputs(pred: Tensor, target: Tensor,
                  ignore_index: Optional[int]) -> Tuple[Tensor, Tensor]:
    """Float32 softmax probabilities with zero class vectors at ignore pixels.

    Returns:
        tuple[Tensor, Tensor]: probabilities (N, C, H, W) float32 and the
        valid-pixel mask (N, H, W) float32.
    """
    valid = valid_mask(target, ignore_index).float()
    return masked_softmax(pred.float(), valid), valid


def reduce_masked(loss: Tensor, valid: Tensor, weight: Optional[Tensor],
                  reduction: str, avg_factor: Optional[float]) -> Tensor:
    """Weight a per-pixel loss (N, H, W) by the valid mask and the optional
    pixel weights, then reduce; 'mean' divides by the number of valid pixels
    unless ``avg_factor`` is given (an all-ignore batch gives 0)."""
    if avg_factor is None and reduction == 'mean':
        avg_factor = valid.sum()
    if weight is not None:
        valid = valid * weight.float()
    return weight_reduce_loss(loss, valid, reduction, avg_factor)


def check_loss_settings(loss_name: str, reduction: str) -> None:
    """Raise a ValueError for a ``loss_name`` MMEngine would not sum (it
    must start with ``loss_``) or an unknown ``reduction``."""
    if not isinstance(loss_name, str) or not loss_name.startswith('loss_'):
        raise ValueError(
            f"loss_name must start with 'loss_', got {loss_name!r}")
    if reduction not in ('none', 'mean', 'sum'):
        raise ValueError("reduction must be 'none', 'mean' or 'sum', "
                         f'got {reduction!r}')
