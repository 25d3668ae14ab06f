"""Boundary-aware metrics for MMSeg's evaluators (``val_evaluator`` lists).

Each keeps a few numbers per image (never whole maps), so a full validation
set costs little memory.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.registry import METRICS

from ..functional import (
    boundary_f_stats,
    boundary_iou_stats,
    e_measure,
    f_scores,
    trimap_stats,
)


class _SegMetric(BaseMetric):
    """Reads (prediction, ground truth) pairs as MMSeg's IoUMetric does."""

    def __init__(self, ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None, **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.ignore_index = ignore_index

    @property
    def num_classes(self) -> int:
        return len(self.dataset_meta['classes'])

    def _pairs(self, data_samples: Sequence[dict]):
        for sample in data_samples:
            pred = sample['pred_sem_seg']['data'].squeeze().cpu()
            label = sample['gt_sem_seg']['data'].squeeze().to(pred)
            yield pred.long(), label.long()

    def _per_class(self, name: str, values: np.ndarray) -> None:
        classes = self.dataset_meta['classes']
        line = ', '.join(f'{c}: {v:.2f}' for c, v in zip(classes, values))
        print_log(f'{name} per class: {line}', logger='current')


@METRICS.register_module()
class TrimapIoUMetric(_SegMetric):
    """mIoU inside and outside a band around ground-truth boundaries
    ("trimap" evaluation, Figure 5 of the SEMEDA paper).

    For a band width ``w`` the *band* holds the non-ignored pixels whose
    Chebyshev distance to a ground-truth semantic edge pixel (a pixel whose 8
    neighbours do not all share its label, see
    :func:`mmseg_semeda.semantic_edges`) is below ``w``: ``w = 1`` is the
    edge pixels themselves, a line two pixels wide along each boundary. The
    *interior* is every other non-ignored pixel. IoU is accumulated over the
    dataset per class within each region, then averaged over the classes
    present, as in MMSeg's IoUMetric.

    Keys: ``mIoU_band_w{w}`` and ``mIoU_interior_w{w}`` (percent).

    Args:
        widths (Sequence[int]): Band widths in pixels. Defaults to
            (1, 2, 3, 5, 10, 20).
        ignore_index (int): Ignore label. Defaults to 255.
        collect_device (str): 'cpu' or 'gpu'. Defaults to 'cpu'.
        prefix (str, optional): Key prefix. Defaults to None.
    """
    default_prefix: Optional[str] = None

    def __init__(self, widths: Sequence[int] = (1, 2, 3, 5, 10, 20),
                 **kwargs) -> None:
        super().__init__(**kwargs)
        widths = tuple(int(w) for w in widths)
        if not widths or min(widths) < 1:
            raise ValueError(f'widths must be integers >= 1, got {widths}')
        self.widths = widths

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep this batch's per-image counts."""
        for pred, label in self._pairs(data_samples):
            self.results.append(
                trimap_stats(pred, label, self.num_classes, self.widths,
                             self.ignore_index).numpy())

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """Reduce the per-image counts to the metrics."""
        total = np.sum(results, axis=0)  # (W, 2, 3, C)
        inter, area_p, area_t = total[:, :, 0], total[:, :, 1], total[:, :, 2]
        union = area_p + area_t - inter
        with np.errstate(invalid='ignore', divide='ignore'):
            iou = np.where(union > 0, inter / union, np.nan)
            miou = np.nanmean(iou, axis=-1) * 100  # (W, 2)
        out = {}
        for i, w in enumerate(self.widths):
            out[f'mIoU_band_w{w}'] = round(float(miou[i, 0]), 2)
            out[f'mIoU_interior_w{w}'] = round(float(miou[i, 1]), 2)
        print_log('trimap mIoU (band / interior): ' + ', '.join(
            f'w{w} {miou[i, 0]:.2f} / {miou[i, 1]:.2f}'
            for i, w in enumerate(self.widths)), logger='current')
        return out


@METRICS.register_module()
class BoundaryFScoreMetric(_SegMetric):
    """Boundary F-score per class (Csurka, Larlus and Perronnin, "What is a
    good evaluation measure for semantic segmentation?", BMVC 2013).

    For each image and class, the boundary of the predicted mask and of the
    ground-truth mask (pixels with an 8-neighbour outside the mask) are
    matched within ``tolerance`` pixels (Chebyshev distance): precision is
    the share of predicted boundary pixels near a true one, recall the
    share of true boundary pixels near a predicted one, F their harmonic
    mean (0 if the class is in only one of the two maps). The per-image F
    of a class is averaged over the images where the class occurs in either
    map; ``mBF`` is the mean over classes. Predicted boundary pixels on
    ignore pixels are not counted.

    Keys: ``mBF``, ``mBPrecision``, ``mBRecall`` (percent).

    Args:
        tolerance (int): Matching distance in pixels. Defaults to 2.
        ignore_index (int): Ignore label. Defaults to 255.
    """

    def __init__(self, tolerance: int = 2, **kwargs) -> None:
        super().__init__(**kwargs)
        if tolerance < 0:
            raise ValueError(f'tolerance must be >= 0, got {tolerance}')
        self.tolerance = int(tolerance)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep this batch's per-image counts."""
        for pred, label in self._pairs(data_samples):
            self.results.append(
                boundary_f_stats(pred, label, self.num_classes,
                                 self.tolerance, self.ignore_index).numpy())

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """Reduce the per-image counts to the metrics."""
        stats = torch.from_numpy(np.stack(results))  # (I, C, 4)
        f = f_scores(stats).numpy()
        mp, npred, mg, ngt = stats.unbind(-1)
        present = ~np.isnan(f)
        with np.errstate(invalid='ignore', divide='ignore'):
            precision = np.where(present, (mp / npred.clamp(min=1)).numpy(),
                                 np.nan)
            recall = np.where(present, (mg / ngt.clamp(min=1)).numpy(),
                              np.nan)
            per_class = np.nanmean(f, axis=0) * 100
            out = dict(
                mBF=float(np.nanmean(per_class)),
                mBPrecision=float(np.nanmean(np.nanmean(precision, 0))) * 100,
                mBRecall=float(np.nanmean(np.nanmean(recall, 0))) * 100)
        self._per_class(f'BF (tolerance {self.tolerance} px)', per_class)
        return {k: round(v, 2) for k, v in out.items()}


@METRICS.register_module()
class EMeasureMetric(_SegMetric):
    """Enhanced-alignment measure per class (Fan et al., IJCAI 2018; see
    :func:`mmseg_semeda.evaluation.functional.e_measure`), averaged over the
    images where the class occurs in the prediction or the ground truth,
    then over classes.

    Keys: ``mEmeasure`` (percent).
    """

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep this batch's per-image counts."""
        for pred, label in self._pairs(data_samples):
            self.results.append(
                e_measure(pred, label, self.num_classes,
                          self.ignore_index).numpy())

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """Reduce the per-image counts to the metrics."""
        with np.errstate(invalid='ignore'):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter('ignore', RuntimeWarning)
                per_class = np.nanmean(np.stack(results), axis=0) * 100
                value = float(np.nanmean(per_class))
        self._per_class('E-measure', per_class)
        return dict(mEmeasure=round(value, 2))


@METRICS.register_module()
class BoundaryIoUMetric(_SegMetric):
    """Boundary IoU per class for semantic segmentation (Cheng et al.,
    "Boundary IoU: Improving Object-Centric Image Segmentation Evaluation",
    CVPR 2021; see
    :func:`mmseg_semeda.evaluation.functional.boundary_iou_stats`).

    Per class, the inner boundary bands of the predicted and of the
    ground-truth mask are intersected and united; both counts are summed
    over the data set, like MMSeg's IoUMetric, and ``mBIoU`` is the mean
    over the classes with a non-empty union. Ignore pixels are excluded.

    Keys: ``mBIoU`` (percent).

    Args:
        ratio (float): Band width as a share of each image's diagonal, d =
            max(1, round(ratio * diagonal)). Defaults to 0.02 (the paper's).
        width (int, optional): Band width in pixels instead of ``ratio``.
            Defaults to None.
        ignore_index (int): Ignore label. Defaults to 255.
    """

    def __init__(self, ratio: float = 0.02, width: Optional[int] = None,
                 **kwargs) -> None:
        super().__init__(**kwargs)
        if width is not None and (int(width) != width or width < 1):
            raise ValueError(f'width must be an int >= 1 or None, got '
                             f'{width!r}')
        if width is None and not ratio > 0:
            raise ValueError(f'ratio must be > 0, got {ratio!r}')
        self.ratio = float(ratio)
        self.width = width

    def band_width(self, height: int, width: int) -> int:
        """Band width in pixels for an image of this size."""
        if self.width is not None:
            return int(self.width)
        return max(1, round(self.ratio * (height**2 + width**2)**0.5))

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep this batch's per-image counts."""
        for pred, label in self._pairs(data_samples):
            d = self.band_width(*label.shape[-2:])
            self.results.append(
                boundary_iou_stats(pred, label, self.num_classes, d,
                                   self.ignore_index).numpy())

    def compute_metrics(self, results: List[np.ndarray]) -> Dict[str, float]:
        """Reduce the per-image counts to the metrics."""
        inter, union = np.sum(results, axis=0).T  # (C,) each
        with np.errstate(invalid='ignore', divide='ignore'):
            per_class = np.where(union > 0, inter / union, np.nan) * 100
        self._per_class('Boundary IoU', per_class)
        value = float(np.nanmean(per_class)) if np.any(union > 0) else \
            float('nan')
        return dict(mBIoU=round(value, 2))
