from .annotations import (
                          expand_ann_dirs,
                          infer_num_classes,
                          load_label_maps,
                          read_label_map,
)
from .synthetic import voronoi_masks
from .trainer import edge_metrics, pretrain_edge_net, soften
from .zoo import (
                          bundled_checkpoints,
                          cache_dir,
                          default_edge_net,
                          resolve_checkpoint,
)

__all__ = [
    'expand_ann_dirs', 'infer_num_classes', 'load_label_maps',
    'read_label_map', 'voronoi_masks', 'edge_metrics',
    'pretrain_edge_net', 'soften', 'bundled_checkpoints', 'cache_dir',
    'default_edge_net', 'resolve_checkpoint'
]
