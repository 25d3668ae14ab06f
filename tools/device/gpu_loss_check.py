"""The loss as a GPU runs it, checked on a CUDA device (run by
tools/device/camvid_gpu.sh; needs a GPU).

For 21 and 150 classes and batches 2 and 8 at 512 x 512, fp16 logits (as a
head gives under AMP): forward + backward of MMSeg's CrossEntropyLoss alone
and of CE + ``SemedaLoss()`` (default settings, the automatic start forced
on), inside a Runner-like setting (MessageHub ``iter`` set, so the
diagnostics and the start run). Per case: milliseconds per step (CUDA
events, median of ``--steps``), host syncs reported by
``torch.cuda.set_sync_debug_mode('warn')`` in the timed steps, CUDA kernels
launched per step (torch.profiler), peak memory beyond the logits, and a
step under ``torch.use_deterministic_algorithms(True)``.

    python tools/device/gpu_loss_check.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
import warnings

import torch


def _batch(n: int, c: int, size: int, device: str):
    g = torch.Generator(device='cpu').manual_seed(0)
    blocks = torch.randint(0, c, (n, size // 16, size // 16), generator=g)
    target = blocks.repeat_interleave(16, 1).repeat_interleave(16, 2)
    target[:, :8] = 255
    logits = torch.randn(n, c, size, size, generator=g).half()
    return (logits.to(device).requires_grad_(), target.to(device))


def _step(losses, logits, target):
    total = sum(loss(logits, target, ignore_index=255) for loss in losses)
    total.backward()
    logits.grad = None


def _timed(step, cuda: bool):
    """Run ``step``; returns a function giving its milliseconds (CUDA
    events, read after the last step, or the wall clock off CUDA)."""
    if not cuda:
        start = time.perf_counter()
        step()
        ms = (time.perf_counter() - start) * 1e3
        return lambda: ms
    start, end = (torch.cuda.Event(enable_timing=True) for _ in range(2))
    start.record()
    step()
    end.record()
    return lambda: (end.synchronize(), start.elapsed_time(end))[1]


def check(c: int, n: int, size: int, steps: int, device: str) -> dict:
    """One case: CE alone and CE + SemedaLoss."""
    from mmengine.logging import MessageHub
    from mmseg.models.losses import CrossEntropyLoss

    from mmseg_semeda import SemedaLoss
    hub = MessageHub.get_instance(f'gpu_check_c{c}_n{n}')
    logits, target = _batch(n, c, size, device)
    out = dict(num_classes=c, batch=n, size=size,
               logits_mb=logits.numel() * 2 / 2**20)
    for name in ('ce', 'ce_semeda'):
        losses = [CrossEntropyLoss()]
        if name == 'ce_semeda':
            losses.append(SemedaLoss(start_iter=0).train())
        it = 0
        for _ in range(3):  # warm-up (the first call checks the labels)
            hub.update_info('iter', it)
            _step(losses, logits, target)
            it += 1
        cuda = device.startswith('cuda')
        times, syncs, peak, kernels = [], None, None, None
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated()
            torch.cuda.set_sync_debug_mode('warn')
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter('always')
                for _ in range(steps):
                    hub.update_info('iter', it)
                    times.append(_timed(lambda: _step(losses, logits, target),
                                        cuda))
                    it += 1
                if cuda:
                    syncs = sum('synchroniz' in str(w.message)
                                for w in caught)
        finally:
            if cuda:
                torch.cuda.set_sync_debug_mode('default')
        ms = statistics.median(t() for t in times)
        if cuda:
            peak = (torch.cuda.max_memory_allocated() - base) / 2**20
            from torch.profiler import ProfilerActivity, profile
            with profile(activities=[ProfilerActivity.CUDA]) as prof:
                hub.update_info('iter', it)
                _step(losses, logits, target)
                torch.cuda.synchronize()
            kernels = sum(e.count for e in prof.key_averages()
                          if e.device_type.name == 'CUDA')
        before = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True)
        try:
            hub.update_info('iter', it + 1)
            _step(losses, logits, target)
            deterministic = 'ok'
        except RuntimeError as err:
            deterministic = str(err)[:300]
        finally:
            torch.use_deterministic_algorithms(before)
        out[name] = dict(ms=ms, syncs_in_timed_steps=syncs,
                         kernels_per_step=kernels, peak_mb=peak,
                         deterministic=deterministic)
    out['ratio_ms'] = out['ce_semeda']['ms'] / out['ce']['ms']
    return out


def main(argv=None) -> list:
    """Run every case; print one line each and write the JSON."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--classes', type=int, nargs='+', default=[21, 150])
    p.add_argument('--batches', type=int, nargs='+', default=[2, 8])
    p.add_argument('--size', type=int, default=512)
    p.add_argument('--steps', type=int, default=20)
    p.add_argument('--json', default=None)
    p.add_argument('--device', default='cuda',
                   help='cuda; cpu only tries the script (times, no syncs, '
                   'kernels or memory)')
    args = p.parse_args(argv)
    import mmseg_semeda  # noqa: F401
    device = args.device
    name = (torch.cuda.get_device_name() if device.startswith('cuda')
            else f'{device} ({platform.machine()})')
    results = [dict(device=name, torch=torch.__version__)]
    print(results[0], flush=True)
    for c in args.classes:
        for n in args.batches:
            r = check(c, n, args.size, args.steps, device)
            results.append(r)
            print(json.dumps(r), flush=True)
            if args.json:
                with open(args.json, 'w') as f:
                    json.dump(results, f, indent=1)
    return results


if __name__ == '__main__':
    main()
