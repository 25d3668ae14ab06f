"""``tools/benchmark_loss.py --memory-probe`` with SemedaLoss's buffers
outside glibc's heap: a study of where its peak RSS goes (docs/results.md,
"Cost", seventh round), not part of the package.

    MODE=forward python probe.py semeda   # the loss's forward: >= 64 KB mapped
    MODE=own python probe.py semeda       # + the backward of its autograd
                                          #   Functions
    MODE=whole python probe.py semeda     # >= 4 KB mapped from the loss's
                                          # forward until the logits' gradient
                                          # is whole (CE's backward nodes
                                          # that run in between too)
    python probe.py ce                    # as the tool, nothing mapped

Prints the peak RSS in MB, as the tool's probe.
"""
import atexit
import os
import os.path as osp
import sys
import tempfile

ROOT = osp.abspath(osp.join(osp.dirname(__file__), *(['..'] * 4)))
sys.path[:0] = [ROOT, osp.join(ROOT, 'tools')]


def patch(mode: str) -> None:
    """Map SemedaLoss's tensors outside the heap in the extent ``mode``."""
    import importlib

    from torch.utils.cpp_extension import load
    S = importlib.import_module('mmseg_semeda.models.losses.semeda_loss')
    U = importlib.import_module('mmseg_semeda.models.losses.utils')
    build = osp.join(tempfile.gettempdir(), 'semeda_heap_study')
    os.makedirs(build, exist_ok=True)
    ext = load('outside_heap', [osp.join(osp.dirname(__file__),
                                         'outside_heap.cpp')],
               build_directory=build, extra_cflags=['-O2'])
    min_bytes = 4096 if mode == 'whole' else 65536

    def mapped(fn):
        def run(*args, **kwargs):
            ext.enter(min_bytes)
            try:
                return fn(*args, **kwargs)
            finally:
                ext.leave()
        return run

    forward = mapped(S.SemedaLoss.forward)

    def loss_forward(self, pred, *args, **kwargs):
        out = forward(self, pred, *args, **kwargs)
        if mode == 'whole' and out.requires_grad:
            out.register_hook(lambda grad: ext.enter(min_bytes))
            pred.register_hook(lambda grad: ext.leave())
        return out

    S.SemedaLoss.forward = loss_forward
    atexit.register(lambda: print(f'{ext.mapped()} tensors mapped',
                                  file=sys.stderr))
    if mode == 'own':
        # the Functions of the study's code (84a3953), or of later code
        names = ('_ReluL1', '_MaskedConv', '_MaskedFirstLayer',
                 '_MaskedSecondLayer', '_MaskedLayers')
        for fn in [getattr(S, n) for n in names if hasattr(S, n)] + [
                U._PaddedSoftmax]:
            fn.backward = staticmethod(mapped(fn.backward))


if __name__ == '__main__':
    variant = sys.argv[1]
    mode = os.environ.get('MODE')
    if mode:
        assert mode in ('forward', 'own', 'whole'), mode
        patch(mode)
    import benchmark_loss
    benchmark_loss.main(['--num-classes', '21', '--memory-probe', variant])
