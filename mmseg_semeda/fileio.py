"""Files of the package: atomic writing (a temporary file in the
destination folder, then a rename, so an interrupted write never leaves a
partial file behind) and the folders shipped with it."""
from __future__ import annotations

import os
import os.path as osp
import tempfile
from typing import Callable


def atomic_write(path: str, write: Callable[[str], None]) -> str:
    """Call ``write(tmp_path)`` and rename the result to ``path``.

    The file gets the usual permissions (0666 minus the umask), not the
    0600 of :func:`tempfile.mkstemp`.

    Returns:
        str: ``path``.
    """
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    suffix = osp.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(prefix='.tmp-', suffix=suffix, dir=folder)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return path


def shipped_dir(name: str) -> str:
    """A folder shipped with the package (``'checkpoints'``, ``'configs'``):
    ``mmseg_semeda/<name>`` in an installed wheel, ``<name>/`` beside the
    package in a source tree."""
    pkg = osp.dirname(osp.abspath(__file__))
    installed = osp.join(pkg, name)
    if osp.isdir(installed):
        return installed
    return osp.join(osp.dirname(pkg), name)
