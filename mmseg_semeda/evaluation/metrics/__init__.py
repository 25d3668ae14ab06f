from .boundary_metrics import (
    BoundaryFScoreMetric,
    BoundaryIoUMetric,
    EMeasureMetric,
    TrimapIoUMetric,
)

__all__ = [
    'TrimapIoUMetric', 'BoundaryFScoreMetric', 'BoundaryIoUMetric',
    'EMeasureMetric'
]
