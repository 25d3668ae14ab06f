"""Reading label-map PNGs for edge-net pretraining."""
from __future__ import annotations

import glob
import os.path as osp
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

IMAGE_SUFFIXES = ('.png', )


def expand_ann_dirs(patterns: Iterable[str]) -> List[str]:
    """PNG files under each directory or glob pattern, sorted, no repeats.

    Raises:
        FileNotFoundError: A pattern matches nothing, or no PNG was found.
    """
    files: List[str] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) or (
            [pattern] if osp.exists(pattern) else [])
        if not matches:
            raise FileNotFoundError(
                f'--ann-dir {pattern!r}: no such directory or file')
        for m in matches:
            if osp.isdir(m):
                files += sorted(
                    osp.join(root, f) for root, f in _walk_files(m)
                    if f.lower().endswith(IMAGE_SUFFIXES))
            elif m.lower().endswith(IMAGE_SUFFIXES):
                files.append(m)
    seen: Dict[str, None] = dict.fromkeys(files)
    if not seen:
        raise FileNotFoundError(
            f'no .png label maps found in {list(patterns)}; expected '
            'single-channel (palette or grayscale) PNG annotations')
    return list(seen)


def _walk_files(folder: str):
    import os
    for root, _, names in os.walk(folder):
        for name in names:
            yield root, name


def read_label_map(path: str) -> np.ndarray:
    """Read a label map: palette PNGs give their indices, 8/16-bit grayscale
    PNGs their values.

    Raises:
        ValueError: The file is not a readable image, or it is an RGB
            colour-coded mask.
    """
    from PIL import Image
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ('P', 'L', 'I', 'I;16', 'I;16B', 'I;16L', '1'):
                arr = np.array(img)
            elif mode in ('RGB', 'RGBA'):
                arr = np.array(img)
                if (arr[..., 0] == arr[..., 1]).all() and (
                        arr[..., 1] == arr[..., 2]).all():
                    arr = arr[..., 0]
                else:
                    raise ValueError(
                        f'{path}: an RGB colour-coded mask, expected a '
                        'single-channel label map (palette or grayscale PNG '
                        'of class indices). Convert it with a colour -> '
                        'index table first, e.g. the palette of your dataset '
                        'and numpy: labels[(rgb == colour).all(-1)] = index')
            else:
                raise ValueError(f'{path}: unsupported PNG mode {mode!r}, '
                                 'expected a palette or grayscale label map')
    except ValueError:
        raise
    except Exception as err:  # PIL raises several types for corrupt files
        raise OSError(f'{path}: unreadable image ({err})') from err
    return arr.astype(np.int64)


def parse_label_map(items: Optional[Sequence[str]]) -> Dict[int, int]:
    """Parse ``SRC:DST`` pairs such as ``11:255``.

    Raises:
        ValueError: An item is not two integers joined by ':'.
    """
    mapping: Dict[int, int] = {}
    for item in items or []:
        try:
            src, dst = (int(v) for v in item.split(':'))
        except ValueError:
            raise ValueError(
                f'--label-map expects SRC:DST integer pairs such as 11:255, '
                f'got {item!r}') from None
        mapping[src] = dst
    return mapping


def load_label_maps(files: Sequence[str],
                    label_map: Optional[Dict[int, int]] = None,
                    reduce_zero_label: bool = False,
                    ignore_index: int = 255
                    ) -> Tuple[List[np.ndarray], List[str], int]:
    """Read label maps, apply ``label_map`` and ``reduce_zero_label`` (0 ->
    ignore, k -> k - 1, as in ADE20K), skipping unreadable files.

    Returns:
        tuple[list[np.ndarray], list[str], int]: The label maps, their files
        and how many files were skipped as unreadable.

    Raises:
        ValueError: Nothing usable was read, or an RGB mask was found.
    """
    maps, kept, skipped = [], [], 0
    for path in files:
        try:
            arr = read_label_map(path)
        except OSError:
            skipped += 1
            continue
        if reduce_zero_label:
            arr = np.where(arr == 0, ignore_index, arr - 1)
            arr[arr == ignore_index - 1] = ignore_index
        if label_map:
            out = arr.copy()
            for src, dst in label_map.items():
                out[arr == src] = dst
            arr = out
        maps.append(arr)
        kept.append(path)
    if not maps:
        raise ValueError(f'none of the {len(files)} files could be read as a '
                         f'label map ({skipped} skipped as unreadable)')
    return maps, kept, skipped


def infer_num_classes(maps: Sequence[np.ndarray], ignore_index: int) -> int:
    """1 + the largest label other than ``ignore_index``."""
    top = max(int(m[m != ignore_index].max(initial=-1)) for m in maps)
    if top < 0:
        raise ValueError('every pixel of the annotations is ignore_index='
                         f'{ignore_index}: nothing to learn from')
    return top + 1


def check_labels(maps: Sequence[np.ndarray], files: Sequence[str],
                 num_classes: int, ignore_index: int) -> None:
    """Raise a ValueError naming the first file with a label outside [0, C)
    other than ``ignore_index``."""
    for arr, path in zip(maps, files):
        bad = (arr < 0) | (arr >= num_classes)
        bad &= arr != ignore_index
        if bad.any():
            values = np.unique(arr[bad])[:10].tolist()
            raise ValueError(
                f'{path}: labels {values} are outside [0, {num_classes}) and '
                f'not ignore_index={ignore_index}. Raise --num-classes, map '
                'them with --label-map SRC:DST (e.g. 11:255 for a void '
                'class), or use --reduce-zero-label')
