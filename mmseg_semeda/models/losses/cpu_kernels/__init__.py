"""The SEMEDA loss's CPU kernels (``csrc/semeda_cpu.cpp``), built on first use.

The loss's elementwise work on a CPU (the softmax written into the first
convolution's padded input, through the class embedding if the net has one,
the ReLU-L1 of each layer, the labels' layers, the layers only where the
weighted terms need them, and their backwards)
runs in these kernels, which read each map once and write each result once,
on torch's own threads. The eager PyTorch code does the same work in several
passes and is kept for every other case: other devices, other dtypes, and
machines where the kernels cannot be built.

They are built with torch's C++ extension loader the first time they are
needed on a machine (about 30 s; cached in torch's extension directory,
``TORCH_EXTENSIONS_DIR``, under a name that carries a hash of the source, the
flags and torch's version) and imported from there afterwards (milliseconds).
Building needs a C++ compiler, which installing mmcv from source already
requires; without one the loss warns once and runs the eager code.

This package is the kernels' one door: the loader here (:func:`usable`, which
the loss asks once per call), their source in ``csrc/``, and in
``functions.py`` the autograd Functions over them and :func:`kernel_terms`,
the loss's terms in them.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import os.path as osp
import sys
import time
import warnings
from typing import Any, List, Optional, Tuple

import torch

from .functions import kernel_terms  # noqa: F401

_SOURCE = osp.join(osp.dirname(osp.abspath(__file__)), 'csrc',
                   'semeda_cpu.cpp')

#: The vector instructions the kernels are compiled for, per torch's
#: detected CPU capability (the extension's name carries it, so that
#: machines sharing a cache directory do not share a binary they cannot run).
_ARCH_FLAGS = {
    'AVX512': ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512dq',
               '-mavx2', '-mfma'],
    'AVX2': ['-mavx2', '-mfma'],
}

#: Reassociating float sums lets the compiler vectorise the channel sums.
_MATH_FLAGS = ['-O3', '-fno-trapping-math', '-fassociative-math',
               '-fno-signed-zeros']

_state: dict = {}


def kernels() -> Optional[Any]:
    """The compiled kernels, built or loaded on the first call; None (after
    one warning) where they cannot be built."""
    if 'module' not in _state:
        _state['module'] = _build()
    return _state['module']


def loaded() -> bool:
    """Whether this process has built or loaded the kernels."""
    return _state.get('module') is not None


def build_seconds() -> Optional[float]:
    """Seconds the first :func:`kernels` call took in this process (a build,
    or a load from the cache), None before it."""
    return _state.get('seconds')


#: Set to 0 to run the eager PyTorch path on the CPU too (the reference,
#: and the path on every other device).
ENV_SWITCH = 'MMSEG_SEMEDA_CPU_KERNELS'


def usable(*tensors: torch.Tensor) -> Optional[Any]:
    """The kernels if every tensor is a CPU tensor, they could be built and
    ``MMSEG_SEMEDA_CPU_KERNELS`` is not ``0``, else None (then the loss runs
    its eager path). The loss asks this once per call."""
    if os.environ.get(ENV_SWITCH, '1') == '0':
        return None
    if not all(t.device.type == 'cpu' for t in tensors):
        return None
    return kernels()


#: A build lock older than this was left by a build that died (killed
#: midway): torch's loader would wait for it forever. A build takes about
#: 30 s; other processes building meanwhile (DDP ranks) hold theirs less.
STALE_LOCK_S = 600


def _target() -> Tuple[str, str, List[str], List[str]]:
    """The extension's name, build directory, compiler and linker flags."""
    from torch.utils.cpp_extension import get_default_build_root
    capability = torch.backends.cpu.get_cpu_capability()
    cflags = _MATH_FLAGS + _ARCH_FLAGS.get(capability, [])
    ldflags = []
    if 'OpenMP' in torch.__config__.parallel_info():
        # at::parallel_for is inlined: without OpenMP it would run on one
        # thread under torch's OpenMP backend
        cflags, ldflags = cflags + ['-fopenmp'], ['-fopenmp']
    with open(_SOURCE, 'rb') as f:
        key = hashlib.sha256(f.read() + repr(
            (cflags, ldflags, torch.__version__)).encode()).hexdigest()[:12]
    # the name carries the source, flags and torch version: a build is
    # never stale, so an existing one is imported without asking ninja
    # (whose log, shared by a venv's ninja and the system's, can make it
    # rebuild on every switch between them)
    name = f'mmseg_semeda_cpu_{capability.lower()}_{key}'
    directory = osp.join(
        os.environ.get('TORCH_EXTENSIONS_DIR') or osp.join(
            get_default_build_root(),
            f'py{sys.version_info.major}{sys.version_info.minor}_cpu'), name)
    return name, directory, cflags, ldflags


def _build() -> Optional[Any]:
    from mmengine.logging import print_log
    from torch.utils.cpp_extension import load
    name, directory, cflags, ldflags = _target()
    start = time.perf_counter()
    try:
        library, lock = (osp.join(directory, f) for f in (f'{name}.so',
                                                          'lock'))
        stale = osp.exists(lock) and \
            time.time() - osp.getmtime(lock) > STALE_LOCK_S
        if stale:  # its library may be incomplete: ninja decides below
            print_log(f'SemedaLoss: removing the stale build lock {lock}',
                      logger='current')
            os.remove(lock)
        if osp.exists(library) and not osp.exists(lock) and not stale:
            spec = importlib.util.spec_from_file_location(name, library)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
        else:
            if stale and osp.exists(library):
                what = ('checking its CPU kernels after a build that did not '
                        'finish (rebuilt if incomplete, about 30 s)')
            elif osp.exists(lock):  # another process (a DDP rank) builds
                what = ('waiting for another process building its CPU '
                        'kernels (about 30 s)')
            else:
                what = ('building its CPU kernels (once per machine and '
                        'version, about 30 s)')
            print_log(f'SemedaLoss: {what} in {directory}', logger='current')
            os.makedirs(directory, exist_ok=True)
            module = load(name=name, sources=[_SOURCE], extra_cflags=cflags,
                          extra_ldflags=ldflags, build_directory=directory,
                          verbose=False)
    except Exception as err:  # no compiler, no ninja, a failed build...
        warnings.warn(
            f'SemedaLoss could not build its CPU kernels ({type(err).__name__}'
            f': {str(err).strip()[:300]}); it runs its eager PyTorch code '
            'on the CPU instead, which gives the same values more slowly.')
        module = None
    _state['seconds'] = time.perf_counter() - start
    return module
