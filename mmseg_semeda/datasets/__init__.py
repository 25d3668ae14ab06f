from .camvid import CamVidDataset
from .shapes import ShapesDataset, make_shapes_dataset

__all__ = ['CamVidDataset', 'ShapesDataset', 'make_shapes_dataset']
