"""CamVid (11 classes, the SegNet split) for MMSeg."""
from __future__ import annotations

from typing import Optional, Sequence

from mmseg.datasets import BaseSegDataset
from mmseg.registry import DATASETS

#: Label id of CamVid's "Unlabelled" (void) class in the annotation PNGs.
CAMVID_VOID = 11


@DATASETS.register_module()
class CamVidDataset(BaseSegDataset):
    """CamVid, 11 classes, as in the SegNet tutorial copy (Brostow, Fauqueur
    and Cipolla, "Semantic object classes in video: A high-definition ground
    truth database", Pattern Recognition Letters 2009).

    Layout under ``data_root``: ``images/<split>/NAME.jpg`` and
    ``annotations/<split>/NAME.png`` (8-bit label ids 0-10, 11 = void); set
    ``data_prefix=dict(img_path='images/train',
    seg_map_path='annotations/train')``. The void label 11 is mapped to the
    ignore index 255 when annotations are loaded.

    Args:
        img_suffix (str): Image suffix. Defaults to '.jpg'.
        seg_map_suffix (str): Annotation suffix. Defaults to '.png'.
        **kwargs: Passed to :class:`mmseg.datasets.BaseSegDataset`.
    """
    METAINFO = dict(
        classes=('sky', 'building', 'pole', 'road', 'pavement', 'tree',
                 'signsymbol', 'fence', 'car', 'pedestrian', 'bicyclist'),
        palette=[[128, 128, 128], [128, 0, 0], [192, 192, 128],
                 [128, 64, 128], [60, 40, 222], [128, 128, 0],
                 [192, 128, 128], [64, 64, 128], [64, 0, 128], [64, 64, 0],
                 [0, 128, 192]])

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 **kwargs) -> None:
        super().__init__(img_suffix=img_suffix, seg_map_suffix=seg_map_suffix,
                         **kwargs)

    @classmethod
    def get_label_map(cls, new_classes: Optional[Sequence] = None
                      ) -> Optional[dict]:
        """MMSeg's class-subset map, plus void (11) -> 255."""
        label_map = super().get_label_map(new_classes)
        if label_map is None:
            return {CAMVID_VOID: 255}
        label_map[CAMVID_VOID] = 255
        return label_map
