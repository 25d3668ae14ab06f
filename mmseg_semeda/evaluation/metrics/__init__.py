from .boundary_metrics import (
    BoundaryFScoreMetric,
    BoundaryIoUMetric,
    EMeasureMetric,
    TrimapIoUMetric,
)
from .iou_metric import PerClassIoUMetric

__all__ = [
    'PerClassIoUMetric', 'TrimapIoUMetric', 'BoundaryFScoreMetric', 'BoundaryIoUMetric',
    'EMeasureMetric'
]
