from .camvid import CamVidDataset
from .shapes import ShapesDataset, make_shapes_dataset
from .stanford_background import StanfordBackgroundDataset

__all__ = [
    'CamVidDataset', 'ShapesDataset', 'make_shapes_dataset',
    'StanfordBackgroundDataset'
]
