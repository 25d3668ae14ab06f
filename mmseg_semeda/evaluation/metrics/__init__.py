from .boundary_metrics import (
                               BoundaryIoUMetric,
                               BoundaryFScoreMetric,
                               EMeasureMetric,
                               TrimapIoUMetric,
)

__all__ = ['BoundaryIoUMetric', 'TrimapIoUMetric', 'BoundaryFScoreMetric', 'EMeasureMetric']
