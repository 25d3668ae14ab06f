"""MMSeg's IoUMetric with the per-class IoU among its results."""
from __future__ import annotations

from typing import Dict

import numpy as np
from mmseg.evaluation import IoUMetric
from mmseg.registry import METRICS


@METRICS.register_module()
class PerClassIoUMetric(IoUMetric):
    """:class:`mmseg.evaluation.IoUMetric` that also returns each class's
    IoU as ``IoU.<class name>`` (MMSeg's prints them in a table only), so
    that they reach ``vis_data/scalars.json``, ``--metrics-out`` and the
    study tools' JSON. Same arguments; its other results are IoUMetric's.
    """

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """IoUMetric's metrics plus ``IoU.<class>`` (percent; NaN for a
        class absent from both ground truth and prediction)."""
        intersect = sum(r[0] for r in results).numpy().astype(np.float64)
        union = sum(r[1] for r in results).numpy().astype(np.float64)
        metrics = super().compute_metrics(results)
        with np.errstate(divide='ignore', invalid='ignore'):
            iou = intersect / union * 100
        for name, value in zip(self.dataset_meta['classes'], iou):
            metrics[f'IoU.{name}'] = round(float(value), 2)
        return metrics
