from .boundary_metrics import (
                               BoundaryFScoreMetric,
                               EMeasureMetric,
                               TrimapIoUMetric,
)

__all__ = ['TrimapIoUMetric', 'BoundaryFScoreMetric', 'EMeasureMetric']
