from .functional import (
                         boundary_bands,
                         boundary_f_stats,
                         boundary_iou_stats,
                         e_measure,
                         trimap_stats,
)
from .metrics import (
    BoundaryFScoreMetric,
    BoundaryIoUMetric,
    EMeasureMetric,
    PerClassIoUMetric,
    TrimapIoUMetric,
)

__all__ = [
    'boundary_bands', 'boundary_f_stats', 'boundary_iou_stats', 'e_measure',
    'trimap_stats',
    'PerClassIoUMetric', 'TrimapIoUMetric', 'BoundaryFScoreMetric', 'BoundaryIoUMetric',
    'EMeasureMetric'
]
