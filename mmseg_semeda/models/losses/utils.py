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
        bad = (target < 0) | (target >= c)
        if ignore_index is not None:
            bad &= target != ignore_index
        if bool(bad.any()):
            values = torch.unique(target[bad])[:10].tolist()
            raise ValueError(
                f'target labels must be in [0, {c}) or ignore_index='
                f'{ignore_index}, got {values}')


class _MaskedSoftmax(torch.autograd.Function):
    """``softmax(x, 1) * valid`` saving one tensor: the masked output is
    all the softmax backward needs (its gradient is 0 where it is 0).
    Channels-last, the softmax runs over the last dimension of the
    (N, H, W, C) copy of ``x``, and its backward there: one transposed copy
    each way (softmax over dim 1 of a channels-last map copies both ways
    twice)."""

    @staticmethod
    def forward(ctx, x: Tensor, valid: Tensor, channels_last: bool) -> Tensor:
        if channels_last:
            # in place on the copy: a row's values are read before written
            out = x.permute(0, 2, 3, 1).contiguous()
            out = torch.softmax(out, dim=-1, out=out).mul_(
                valid.unsqueeze(-1)).permute(0, 3, 1, 2)
        else:
            out = x.softmax(dim=1).mul_(valid.unsqueeze(1))
        ctx.save_for_backward(out)
        ctx.channels_last = channels_last
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        out, = ctx.saved_tensors
        if ctx.channels_last:
            grad = grad.permute(0, 2, 3, 1).contiguous()
            grad = torch.ops.aten._softmax_backward_data.out(
                grad, out.permute(0, 2, 3, 1), 3, out.dtype,
                grad_input=grad).permute(0, 3, 1, 2)
        else:
            grad = torch._softmax_backward_data(grad.contiguous(), out, 1,
                                                out.dtype)
        return grad.contiguous(), None, None


def masked_softmax(pred: Tensor, valid: Tensor,
                   channels_last: bool = False) -> Tensor:
    """``softmax(pred, 1) * valid``: class probabilities (N, C, H, W) with
    zero class vectors where ``valid`` (N, H, W) is 0, saving only them for
    backward. ``channels_last`` writes them in that memory layout (on a CPU
    the edge net's first convolution runs 2-3x faster on it); the gradient
    comes back in the contiguous layout of ``pred``."""
    return _MaskedSoftmax.apply(pred, valid, channels_last)


#: Elements per chunk of :class:`_MaskedSoftmaxEmbedding` on a CPU (2 MB of
#: float32: it stays in cache, and it is not a fresh, page-faulted buffer).
EMBED_CHUNK_ELEMENTS = 1 << 19


def _row_chunks(h: int, rows: int):
    return ((r, min(h, r + rows)) for r in range(0, h, rows))


class _MaskedSoftmaxEmbedding(torch.autograd.Function):
    """``conv1x1(softmax(x, 1) * valid, weight)`` for frozen weights (E, C),
    image by image and, on a CPU, a few rows at a time: the C-channel
    probabilities exist one chunk at a time and are recomputed in backward,
    so no C-channel map is written but the gradient. Written channels-last
    (N, E, H, W)."""

    @staticmethod
    def forward(ctx, x: Tensor, valid: Tensor, weight: Tensor) -> Tensor:
        n, c, h, w = x.shape
        out = x.new_empty(n, h, w, weight.shape[0])
        rows = h if x.device.type != 'cpu' else max(
            1, EMBED_CHUNK_ELEMENTS // (c * w))
        for i in range(n):
            for r0, r1 in _row_chunks(h, rows):
                probs = x[i, :, r0:r1].reshape(c, -1).softmax(dim=0)
                part = out[i, r0:r1].view(-1, weight.shape[0])
                torch.matmul(probs.t(), weight.t(), out=part)
                part.mul_(valid[i, r0:r1].reshape(-1, 1))
        ctx.save_for_backward(x, valid, weight)
        ctx.rows = rows
        return out.permute(0, 3, 1, 2)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, valid, weight = ctx.saved_tensors
        n, c, h, w = x.shape
        grad = grad.permute(0, 2, 3, 1).contiguous()  # (N, H, W, E)
        grad_x = torch.empty_like(x)
        for i in range(n):
            for r0, r1 in _row_chunks(h, ctx.rows):
                probs = x[i, :, r0:r1].reshape(c, -1).softmax(dim=0)
                g = grad[i, r0:r1].reshape(-1, weight.shape[0]) * valid[
                    i, r0:r1].reshape(-1, 1)
                g = torch.matmul(weight.t(), g.t())  # (C, pixels)
                grad_x[i, :, r0:r1] = torch._softmax_backward_data(
                    g, probs, 0, probs.dtype).view(c, r1 - r0, w)
        return grad_x, None, None


def masked_softmax_embedding(pred: Tensor, valid: Tensor,
                             weight: Tensor) -> Tensor:
    """``conv1x1(masked_softmax(pred, valid), weight)`` for a frozen class
    embedding ``weight`` (E, C) without the C-channel probabilities in
    memory (measured at 150 classes, 2 x 256 x 256, 2 threads: 33 against
    76 ms forward). Returns (N, E, H, W) channels-last."""
    return _MaskedSoftmaxEmbedding.apply(pred.contiguous(), valid, weight)


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
