"""Small config helpers."""
from __future__ import annotations

from typing import Any


def sync_bn_to_bn(cfg: Any) -> Any:
    """Replace every ``type='SyncBN'`` by ``'BN'`` in a (nested) config, in
    place, for single-process CPU runs of stock MMSeg configs."""
    if isinstance(cfg, dict):
        if cfg.get('type') == 'SyncBN':
            cfg['type'] = 'BN'
        for v in cfg.values():
            sync_bn_to_bn(v)
    elif isinstance(cfg, (list, tuple)):
        for v in cfg:
            sync_bn_to_bn(v)
    return cfg
