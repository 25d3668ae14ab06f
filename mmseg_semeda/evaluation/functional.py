"""Boundary-aware segmentation measures on one image, vectorised in torch.

Distances are Chebyshev (chessboard) distances in pixels, computed by max
pooling: a pixel is within ``d`` of a set S if some pixel of S lies in the
(2d + 1) x (2d + 1) square centred on it.
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from ..edges import boundary_bands, dilate, valid_mask


def inner_boundary(masks: Tensor, valid: Optional[Tensor] = None) -> Tensor:
    """Pixels of each binary mask (K, H, W) with an 8-neighbour outside it
    (the image border does not count as outside, nor do pixels where
    ``valid`` (H, W) is False: an ignore region is neither inside nor
    outside)."""
    outside = ~masks if valid is None else ~masks & valid
    # replicate padding: border pixels see themselves, not an outside.
    padded = F.pad(outside.float().unsqueeze(1), (1, 1, 1, 1), mode='replicate')
    near_outside = F.max_pool2d(padded, 3, stride=1).squeeze(1) > 0
    return masks & near_outside


def intersect_and_union(pred: Tensor, label: Tensor, num_classes: int,
                        mask: Tensor) -> Tensor:
    """Per-class (intersection, prediction area, label area) over ``mask``
    pixels, as a (3, C) float64 tensor."""
    p, t = pred[mask], label[mask]
    inter = torch.bincount(t[p == t], minlength=num_classes)[:num_classes]
    area_p = torch.bincount(p, minlength=num_classes)[:num_classes]
    area_t = torch.bincount(t, minlength=num_classes)[:num_classes]
    return torch.stack([inter, area_p, area_t]).double()


def trimap_stats(pred: Tensor, label: Tensor, num_classes: int,
                 widths: Sequence[int],
                 ignore_index: Optional[int] = 255) -> Tensor:
    """Intersection and areas in the boundary band and in the interior.

    Returns:
        Tensor: (len(widths), 2, 3, C): for each width, [band, interior] x
        [intersection, prediction area, label area] per class.
    """
    valid = valid_mask(label, ignore_index)
    valid &= (pred >= 0) & (pred < num_classes)
    bands = boundary_bands(label, widths, ignore_index)
    out = []
    for w in widths:
        band = bands[w]
        out.append(torch.stack([
            intersect_and_union(pred, label, num_classes, valid & band),
            intersect_and_union(pred, label, num_classes, valid & ~band)
        ]))
    return torch.stack(out)


def present_classes(pred: Tensor, label: Tensor, valid: Tensor,
                    num_classes: int) -> Tensor:
    """The classes in [0, num_classes) found at ``valid`` pixels of the
    prediction or the ground truth (sorted, 1-D)."""
    classes = torch.unique(torch.cat([pred[valid], label[valid]]))
    return classes[(classes >= 0) & (classes < num_classes)]


def boundary_f_stats(pred: Tensor, label: Tensor, num_classes: int,
                     tolerance: int = 2,
                     ignore_index: Optional[int] = 255) -> Tensor:
    """Counts of the boundary F-score of one image (Csurka et al., BMVC
    2013): for each class, the boundary pixels of the predicted mask within
    ``tolerance`` of the ground-truth boundary, and vice versa.

    Ignore pixels are neither inside nor outside a mask: they make no
    boundary in either map, and predicted boundary pixels on them are not
    counted, so a prediction equal to the ground truth on every non-ignore
    pixel scores 1 whatever it says at ignore pixels.

    Returns:
        Tensor: (C, 4) float64: matched predicted boundary pixels, predicted
        boundary pixels, matched ground-truth boundary pixels, ground-truth
        boundary pixels.
    """
    valid = valid_mask(label, ignore_index)
    out = torch.zeros(num_classes, 4, dtype=torch.float64)
    classes = present_classes(pred, label, valid, num_classes)
    if classes.numel() == 0:
        return out
    cls = classes.view(-1, 1, 1)
    pred_b = inner_boundary(pred.unsqueeze(0) == cls, valid) & valid
    gt_b = inner_boundary(label.unsqueeze(0) == cls, valid)
    matched_p = (pred_b & dilate(gt_b, tolerance)).flatten(1).sum(1)
    matched_g = (gt_b & dilate(pred_b, tolerance)).flatten(1).sum(1)
    out[classes] = torch.stack([
        matched_p, pred_b.flatten(1).sum(1), matched_g,
        gt_b.flatten(1).sum(1)
    ], dim=1).double()
    return out


def boundary_iou_stats(pred: Tensor, label: Tensor, num_classes: int,
                       width: int,
                       ignore_index: Optional[int] = 255) -> Tensor:
    """Counts of Boundary IoU for one image (Cheng, Girshick, Dollár, Berg
    and Kirillov, "Boundary IoU: Improving Object-Centric Image Segmentation
    Evaluation", CVPR 2021).

    For each class, the inner boundary band of a binary mask holds its
    pixels within Chebyshev distance ``width`` of a pixel outside it; as in
    the authors' code the image border counts as outside (their 3 x 3
    erosion of a zero-padded mask, ``width`` times). Ignore pixels are
    neither inside nor outside: they never make a band pixel and are never
    counted, so a prediction equal to the ground truth on every non-ignore
    pixel gives identical bands.

    Returns:
        Tensor: (C, 2) float64: intersection and union of the predicted and
        the ground-truth bands, in pixels.
    """
    if width < 1:
        raise ValueError(f'width must be >= 1, got {width}')
    valid = valid_mask(label, ignore_index)
    out = torch.zeros(num_classes, 2, dtype=torch.float64)
    classes = present_classes(pred, label, valid, num_classes)
    if classes.numel() == 0:
        return out
    cls = classes.view(-1, 1, 1)

    def band(masks: Tensor) -> Tensor:
        outside = (~masks & valid).float().unsqueeze(1)
        outside = F.pad(outside, (width, ) * 4, value=1.0)  # border: outside
        near = F.max_pool2d(outside, 2 * width + 1, stride=1).squeeze(1) > 0
        return masks & near & valid

    pred_b = band(pred.unsqueeze(0) == cls)
    gt_b = band(label.unsqueeze(0) == cls)
    out[classes] = torch.stack([(pred_b & gt_b).flatten(1).sum(1),
                                (pred_b | gt_b).flatten(1).sum(1)],
                               dim=1).double()
    return out


def f_scores(stats: Tensor) -> Tensor:
    """Boundary F per class from :func:`boundary_f_stats` counts (..., 4);
    NaN where a class has no boundary in either map, 0 where only one has."""
    mp, npred, mg, ngt = stats.unbind(-1)
    precision = mp / npred.clamp(min=1)
    recall = mg / ngt.clamp(min=1)
    f = 2 * precision * recall / (precision + recall).clamp(min=1e-12)
    absent = (npred == 0) & (ngt == 0)
    return torch.where(absent, torch.full_like(f, float('nan')), f)


def e_measure(pred: Tensor, label: Tensor, num_classes: int,
              ignore_index: Optional[int] = 255) -> Tensor:
    """Enhanced-alignment measure (Fan et al., "Enhanced-alignment Measure
    for Binary Foreground Map Evaluation", IJCAI 2018) of each class's
    binary map, over the non-ignored pixels of one image.

    With foreground maps P and G of a class, :math:`\\phi_X = X -
    \\mathrm{mean}(X)`, :math:`\\xi = 2 \\phi_G \\phi_P / (\\phi_G^2 +
    \\phi_P^2)` and :math:`E = \\mathrm{mean}((1 + \\xi)^2 / 4)`; when G is
    empty E = mean(1 - P), when G is full E = mean(P), as in the authors'
    code, except that their code divides the sum by n - 1 for n pixels (a
    perfect map scores n / (n - 1) there, 1 here).

    Returns:
        Tensor: (C,) float64; NaN for classes in neither map.
    """
    valid = valid_mask(label, ignore_index)
    out = torch.full((num_classes, ), float('nan'), dtype=torch.float64)
    p_all, g_all = pred[valid], label[valid]
    n = p_all.numel()
    if n == 0:
        return out
    classes = present_classes(pred, label, valid, num_classes)
    if classes.numel() == 0:
        return out
    cls = classes.view(-1, 1)
    p = (p_all.unsqueeze(0) == cls).double()  # (K, n)
    g = (g_all.unsqueeze(0) == cls).double()
    phi_p = p - p.mean(1, keepdim=True)
    phi_g = g - g.mean(1, keepdim=True)
    eps = torch.finfo(torch.float64).eps  # as the authors' code
    xi = 2 * phi_g * phi_p / (phi_g**2 + phi_p**2 + eps)
    enhanced = (1 + xi)**2 / 4
    g_sum = g.sum(1, keepdim=True)
    enhanced = torch.where(g_sum == 0, 1 - p, enhanced)
    enhanced = torch.where(g_sum == n, p, enhanced)
    out[classes] = enhanced.mean(1)
    return out
