"""Compatibility fixes applied when :mod:`mmseg_semeda` is imported.

torch >= 2.6 loads checkpoints with ``weights_only=True`` by default. MMEngine
0.10.x checkpoints hold a ``message_hub`` whose ``HistoryBuffer`` objects keep
numpy arrays and scalars, so ``Runner.resume`` fails with an ``UnpicklingError``
unless the user sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD``. Instead of turning the
safe loader off, we allow-list exactly the classes such checkpoints contain.

One of them is ``getattr``: protocol-2 pickles store ``HistoryBuffer.min``
(kept in the message hub's ``statistics_methods``) as ``getattr(HistoryBuffer,
'min')``. Allowing the builtin would let a checkpoint reach any attribute, so
the name ``builtins.getattr`` is mapped to :func:`_restricted_getattr`, which
only resolves public attributes of the allow-listed classes.
"""
from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import torch

_GETATTR_CLASSES: tuple = ()


def _restricted_getattr(obj: Any, name: str) -> Any:
    """``getattr`` for weights-only unpickling, limited to public attributes
    of the classes MMEngine checkpoints need (``HistoryBuffer``)."""
    if obj in _GETATTR_CLASSES and isinstance(name, str) and \
            not name.startswith('_'):
        return getattr(obj, name)
    raise pickle.UnpicklingError(
        f'weights_only load: getattr({obj!r}, {name!r}) is not allowed '
        '(mmseg_semeda only allows public attributes of HistoryBuffer)')


def _numpy_globals() -> list:
    """Numpy objects pickled inside MMEngine checkpoints (numpy 1.x and 2.x)."""
    objs: list = [np.ndarray, np.dtype]
    try:  # numpy >= 2
        from numpy._core import multiarray
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    objs += [multiarray._reconstruct, multiarray.scalar]
    # dtype classes (numpy.dtypes.Float64DType, ...) used when dtypes are pickled.
    for name in ('float16', 'float32', 'float64', 'int8', 'int16', 'int32',
                 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'bool_'):
        objs.append(type(np.dtype(getattr(np, name))))
    # The same functions under their numpy 1.x module path, for checkpoints
    # written with numpy 1.x and loaded with numpy 2.x.
    objs += [(multiarray._reconstruct, 'numpy.core.multiarray._reconstruct'),
             (multiarray.scalar, 'numpy.core.multiarray.scalar')]
    return objs


def register_safe_globals() -> bool:
    """Allow MMEngine checkpoints to load under torch's ``weights_only`` mode.

    Returns:
        bool: True if globals were registered, False on a torch without
        ``torch.serialization.add_safe_globals`` (older than 2.4), where
        nothing needs fixing.
    """
    add = getattr(torch.serialization, 'add_safe_globals', None)
    if add is None:
        return False
    from mmengine.logging import HistoryBuffer
    global _GETATTR_CLASSES
    _GETATTR_CLASSES = (HistoryBuffer, )
    add([HistoryBuffer, (_restricted_getattr, 'builtins.getattr')] +
        _numpy_globals())
    return True
