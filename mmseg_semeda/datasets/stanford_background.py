"""Stanford Background (8 classes) for MMSeg."""
from __future__ import annotations

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS


@DATASETS.register_module()
class StanfordBackgroundDataset(BaseSegDataset):
    """Stanford Background, 8 outdoor classes (Gould, Fulton and Koller,
    "Decomposing a scene into geometric and semantically consistent
    regions", ICCV 2009), the data set of MMSeg's own tutorial, with its
    palette.

    Layout under ``data_root``: ``images/<split>/NAME.jpg`` and
    ``annotations/<split>/NAME.png`` (8-bit label ids 0-7, 255 = unknown,
    ignored); set ``data_prefix=dict(img_path='images/train',
    seg_map_path='annotations/train')``.

    Args:
        img_suffix (str): Image suffix. Defaults to '.jpg'.
        seg_map_suffix (str): Annotation suffix. Defaults to '.png'.
        **kwargs: Passed to :class:`mmseg.datasets.BaseSegDataset`.
    """
    METAINFO = dict(
        classes=('sky', 'tree', 'road', 'grass', 'water', 'building',
                 'mountain', 'foreground object'),
        palette=[[128, 128, 128], [129, 127, 38], [120, 69, 125],
                 [53, 125, 34], [0, 11, 123], [118, 20, 12], [122, 81, 25],
                 [241, 134, 51]])

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         **kwargs)
