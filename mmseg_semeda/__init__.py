"""mmseg_semeda: the SEMEDA loss as a plugin for MMSegmentation 1.x.

Importing the package registers its modules into MMSeg's registries; configs
load it with ``custom_imports=dict(imports=['mmseg_semeda'],
allow_failed_imports=False)``.
"""
from .compat import register_safe_globals
from .datasets import CamVidDataset, ShapesDataset, StanfordBackgroundDataset
from .edges import semantic_edges
from .engine import SemedaVisualizationHook
from .evaluation import (
    BoundaryFScoreMetric,
    BoundaryIoUMetric,
    EMeasureMetric,
    TrimapIoUMetric,
)
from .models import (
                         SemedaEdgeNet,
                         SemedaLoss,
                         SobelEdgeLoss,
                         semeda_loss,
                         sobel_edge_loss,
)
from .version import __version__

register_safe_globals()

__all__ = [
    '__version__', 'semantic_edges', 'SemedaEdgeNet', 'SemedaLoss',
    'semeda_loss', 'SobelEdgeLoss', 'sobel_edge_loss', 'CamVidDataset',
    'ShapesDataset', 'StanfordBackgroundDataset', 'SemedaVisualizationHook',
    'TrimapIoUMetric', 'BoundaryFScoreMetric',
    'BoundaryIoUMetric', 'EMeasureMetric'
]
