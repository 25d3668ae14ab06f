"""Side-by-side pictures of image, ground truth and prediction."""
from __future__ import annotations

from typing import List, Sequence

import numpy as np

from .fileio import atomic_write


def colorize(label: np.ndarray, palette: Sequence[Sequence[int]],
             ignore_index: int = 255) -> np.ndarray:
    """RGB picture (H, W, 3) of a label map; ignore pixels are white."""
    lut = np.zeros((256, 3), np.uint8)
    lut[:len(palette)] = np.asarray(palette, np.uint8)
    lut[ignore_index] = 255
    return lut[np.clip(label, 0, 255).astype(np.uint8)]


def save_rgb(image: np.ndarray, path: str) -> str:
    """Write an RGB uint8 array as PNG atomically (temporary file, rename)."""
    from PIL import Image
    return atomic_write(
        path, lambda tmp: Image.fromarray(image).save(tmp, format='PNG'))


def panel_grid(rows: List[List[np.ndarray]], gap: int = 4) -> np.ndarray:
    """Tile RGB arrays of equal height row by row, white gaps between."""
    h = max(p.shape[0] for r in rows for p in r)
    strips = []
    for r in rows:
        cells = []
        for p in r:
            pad = np.full((h, p.shape[1], 3), 255, np.uint8)
            pad[:p.shape[0]] = p
            cells += [pad, np.full((h, gap, 3), 255, np.uint8)]
        strips.append(np.concatenate(cells[:-1], axis=1))
    width = max(s.shape[1] for s in strips)
    out = []
    for s in strips:
        pad = np.full((h, width, 3), 255, np.uint8)
        pad[:, :s.shape[1]] = s
        out += [pad, np.full((gap, width, 3), 255, np.uint8)]
    return np.concatenate(out[:-1], axis=0)
