from .functional import (
                         boundary_bands,
                         boundary_f_stats,
                         e_measure,
                         trimap_stats,
)
from .metrics import BoundaryFScoreMetric, EMeasureMetric, TrimapIoUMetric

__all__ = [
    'boundary_bands', 'boundary_f_stats', 'e_measure', 'trimap_stats',
    'TrimapIoUMetric', 'BoundaryFScoreMetric', 'EMeasureMetric'
]
