"""Colour pictures of label maps."""
from __future__ import annotations

from typing import Sequence

import numpy as np


def colorize(label: np.ndarray, palette: Sequence[Sequence[int]],
             ignore_index: int = 255) -> np.ndarray:
    """RGB picture (H, W, 3) of a label map; ignore pixels are white."""
    lut = np.zeros((256, 3), np.uint8)
    lut[:len(palette)] = np.asarray(palette, np.uint8)
    lut[ignore_index] = 255
    return lut[np.clip(label, 0, 255).astype(np.uint8)]
