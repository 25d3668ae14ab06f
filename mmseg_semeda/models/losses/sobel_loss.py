"""The Sobel edge loss: the fixed-filter baseline of the SEMEDA paper."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmseg.registry import MODELS
from torch import Tensor

from ...edges import onehot
from .utils import check_loss_settings, check_seg_inputs, masked_inputs, reduce_masked

_SOBEL_X = torch.tensor([[-1., 0., 1.], [-2., 0., 2.], [-1., 0., 1.]])


def sobel_magnitude(probs: Tensor, eps: float = 1e-6) -> Tensor:
    """Per-channel Sobel gradient magnitude of (N, C, H, W), replicate
    padding; ``eps`` keeps the square root differentiable at 0."""
    c = probs.shape[1]
    kernel = torch.stack([_SOBEL_X, _SOBEL_X.t()]).to(probs)  # (2, 3, 3)
    kernel = kernel.unsqueeze(1).repeat(c, 1, 1, 1)  # (2C, 1, 3, 3)
    grad = F.conv2d(F.pad(probs, (1, 1, 1, 1), mode='replicate'), kernel,
                    groups=c)
    gx, gy = grad[:, 0::2], grad[:, 1::2]
    return (gx * gx + gy * gy + eps).sqrt()


def sobel_edge_loss(pred: Tensor,
                    target: Tensor,
                    ignore_index: Optional[int] = 255,
                    weight: Optional[Tensor] = None,
                    reduction: str = 'mean',
                    avg_factor: Optional[float] = None,
                    check_labels: bool = True) -> Tensor:
    r"""L1 distance of per-class Sobel gradient magnitudes of the softmax and
    of the one-hot ground truth, the "Sobel" baseline of the SEMEDA paper.

    .. math::
        L = \frac{1}{|\Omega| C} \sum_{p \in \Omega} \sum_c
            | \nabla_S \hat S_c(p) - \nabla_S \mathrm{onehot}(S^*)_c(p) |

    Ignore pixels are handled as in :func:`semeda_loss`: all-zero class
    vectors in both inputs, and no term at their location.

    Args:
        pred (Tensor): Logits (N, C, H, W).
        target (Tensor): Long labels (N, H, W).
        ignore_index (int, optional): Label to ignore. Defaults to 255.
        weight (Tensor, optional): Pixel weights (N, H, W). Defaults to None.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        avg_factor (float, optional): Divisor of the 'mean' reduction.
            Defaults to None (the number of non-ignored pixels).
        check_labels (bool): Check the label range. Defaults to True.

    Returns:
        Tensor: The loss.

    Example:
        >>> logits = torch.randn(1, 3, 8, 8)
        >>> target = torch.randint(0, 3, (1, 8, 8))
        >>> bool(sobel_edge_loss(logits, target) >= 0)
        True
    """
    check_seg_inputs(pred, target, ignore_index, None, check_labels)
    c = pred.shape[1]
    with torch.autocast(device_type=pred.device.type, enabled=False):
        probs, valid = masked_inputs(pred, target, ignore_index)
        with torch.no_grad():
            gt_mag = sobel_magnitude(onehot(target, c, ignore_index))
        loss = (sobel_magnitude(probs) - gt_mag).abs().mean(dim=1)
        return reduce_masked(loss, valid, weight, reduction, avg_factor)


@MODELS.register_module()
class SobelEdgeLoss(nn.Module):
    """Sobel edge loss, the fixed-filter baseline of SEMEDA (Chen, Dapogny
    and Cord, Pattern Recognition 2020, https://arxiv.org/abs/1905.01892).

    Args:
        loss_weight (float): The paper's :math:`\\lambda_1`. Defaults to 1.0.
        reduction (str): 'none', 'mean' or 'sum'. Defaults to 'mean'.
        loss_name (str): Name in the log; must start with ``loss_``.
            Defaults to 'loss_sobel'.
        check_labels (bool): Check the label range. Defaults to True.
    """

    def __init__(self,
                 loss_weight: float = 1.0,
                 reduction: str = 'mean',
                 loss_name: str = 'loss_sobel',
                 check_labels: bool = True) -> None:
        super().__init__()
        check_loss_settings(loss_name, reduction)
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.check_labels = check_labels
        self._loss_name = loss_name

    def forward(self,
                pred: Tensor,
                target: Tensor,
                weight: Optional[Tensor] = None,
                ignore_index: int = 255,
                avg_factor: Optional[float] = None,
                reduction_override: Optional[str] = None,
                **kwargs) -> Tensor:
        """Loss of logits (N, C, H, W) against labels (N, H, W)."""
        return self.loss_weight * sobel_edge_loss(
            pred, target, ignore_index, weight,
            reduction_override or self.reduction, avg_factor,
            self.check_labels)

    @property
    def loss_name(self) -> str:
        """Name of this loss in the log dict (starts with ``loss_``)."""
        return self._loss_name
