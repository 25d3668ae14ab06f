"""Time a DeepLabV3+ training step with CE vs CE+SEMEDA vs CE+Sobel (and
the losses alone), side by side in one process:

    python tools/benchmark_loss.py --backbone r18 --crop 256 --batch 2 \
        --num-classes 21 --json bench.json

A full DeepLabV3+ training step (forward, backward, optimizer) with CE only,
CE + SEMEDA and CE + Sobel, timed in one process, alternating variants step
by step after a warm-up, so that all see the same machine state. Also the
loss alone (forward + backward on given logits), and SEMEDA's own
convolutions alone (``semeda_convs_s``: what the loss would cost if all its
other work were free; ``semeda_loss_to_convs`` is the loss over that).
Peak memory on a CPU: the peak RSS of a fresh process per variant, as is
(``*_peak_mb``) and with glibc's mmap threshold fixed
(``*_peak_mb_fixed_mmap``), which returns freed tensors to the system at
once, so that it measures what the step needs rather than what the
allocator kept. As is, one process's peak varies by several per cent (where
glibc's heap places the same blocks): each figure is the median over
``--memory-rounds`` rounds of fresh processes, the variants in turn.
"""
from __future__ import annotations

import argparse
import copy
import json
import os.path as osp
import platform
import statistics
import time
from typing import Callable, Dict, List, Optional

import torch
from mmengine.config import DictAction

from mmseg_semeda.fileio import atomic_write

BACKBONES = {
    # depth, decode in/c1 channels, aux in channels (MMSeg's r18 / r50 sizes)
    'r18': dict(depth=18, in_channels=512, c1_in_channels=64, channels=128,
                c1_channels=12, aux_in=256, aux_channels=64),
    'r50': dict(depth=50, in_channels=2048, c1_in_channels=256, channels=512,
                c1_channels=48, aux_in=1024, aux_channels=256),
    'r101': dict(depth=101, in_channels=2048, c1_in_channels=256,
                 channels=512, c1_channels=48, aux_in=1024,
                 aux_channels=256),
}
LOSSES = {
    'ce': [],
    'semeda': [dict(type='SemedaLoss')],
    'sobel': [dict(type='SobelEdgeLoss')],
}


def loss_cfgs(variant: str, semeda_options: Optional[dict] = None
              ) -> List[dict]:
    """The variant's loss configs after CE, SemedaLoss's with
    ``semeda_options`` (e.g. ``dict(class_balance=True)``) on top."""
    cfgs = copy.deepcopy(LOSSES[variant])
    for cfg in cfgs:
        if cfg['type'] == 'SemedaLoss':
            cfg.update(semeda_options or {})
    return cfgs


def build_model(backbone: str, num_classes: int, variant: str,
                crop: int, semeda_options: Optional[dict] = None
                ) -> torch.nn.Module:
    """DeepLabV3+ from MMSeg's base model config, BN, no pretrained
    weights, with the variant's losses after CE."""
    from mmengine.hub import get_config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    b = BACKBONES[backbone]
    cfg = get_config('mmseg::_base_/models/deeplabv3plus_r50-d8.py')
    model = cfg.model.to_dict()
    norm = dict(type='BN', requires_grad=True)
    model.update(pretrained=None)
    model['data_preprocessor']['size'] = (crop, crop)
    model['backbone'].update(depth=b['depth'], norm_cfg=norm)
    model['decode_head'].update(
        in_channels=b['in_channels'], c1_in_channels=b['c1_in_channels'],
        channels=b['channels'], c1_channels=b['c1_channels'],
        num_classes=num_classes, norm_cfg=norm,
        loss_decode=[dict(type='CrossEntropyLoss', loss_weight=1.0)] +
        loss_cfgs(variant, semeda_options))
    model['auxiliary_head'].update(in_channels=b['aux_in'],
                                   channels=b['aux_channels'],
                                   num_classes=num_classes, norm_cfg=norm)
    return MODELS.build(model)


def make_batch(num_classes: int, batch: int, crop: int, device: str):
    """Random images and blob-like labels (Voronoi masks)."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from mmseg_semeda.pretrain.synthetic import voronoi_masks
    g = torch.Generator().manual_seed(0)
    inputs = torch.randn(batch, 3, crop, crop, generator=g).to(device)
    labels = voronoi_masks(batch, crop, num_classes, g, ignore_index=255)
    samples = []
    for i in range(batch):
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=labels[i:i + 1].to(device))
        s.set_metainfo(dict(img_shape=(crop, crop), ori_shape=(crop, crop)))
        samples.append(s)
    return inputs, samples


def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def _timed(fn: Callable[[], None], device: str) -> float:
    _sync(device)
    t = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - t


#: glibc's malloc returns blocks of this size and more to the system at
#: once (its default threshold grows with the blocks freed, so freed tensor
#: memory stays in the process and the peak RSS depends on the order of
#: allocations); the second memory figure is taken with it fixed.
MMAP_THRESHOLD = 131072


def _cpu_peak_mb(argv: List[str], variant: str,
                 fixed_mmap: bool = False) -> float:
    """Peak RSS (MB) of a fresh Python process that builds the ``variant``
    model and runs two training steps (a subprocess: the peak RSS of this
    process cannot be attributed to one variant); with ``fixed_mmap``,
    glibc's mmap threshold is fixed (:data:`MMAP_THRESHOLD`)."""
    import os
    import subprocess
    import sys
    cmd = [sys.executable, osp.abspath(__file__)] + argv + [
        '--memory-probe', variant]
    env = dict(os.environ)
    if fixed_mmap:
        env['MALLOC_MMAP_THRESHOLD_'] = str(MMAP_THRESHOLD)
    out = subprocess.run(cmd, capture_output=True, text=True, check=True,
                         env=env)
    return float(out.stdout.strip().splitlines()[-1])


def _cpu_peaks(args) -> Dict[str, float]:
    """Each variant's median peak RSS (MB) over ``args.memory_rounds``
    rounds of fresh processes, as is and with the mmap threshold fixed;
    within a round each variant in turn, so that all see the same machine
    state."""
    peaks: Dict[str, List[float]] = {}
    for _ in range(args.memory_rounds):
        for suffix, fixed in (('', False), ('_fixed_mmap', True)):
            for v in args.variants:
                peaks.setdefault(f'{v}_peak_mb{suffix}', []).append(
                    _cpu_peak_mb(args.argv, v, fixed))
    return {k: statistics.median(mbs) for k, mbs in peaks.items()}


def _peak_rss_mb() -> float:
    """This process's peak RSS in MB: VmHWM of /proc/self/status, which
    starts afresh at exec (ru_maxrss would carry the parent's peak over a
    fork + exec), else ru_maxrss."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith('VmHWM:'):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _memory_probe(args) -> None:
    v = args.memory_probe
    model = build_model(args.backbone, args.num_classes, v, args.crop,
                        args.semeda_options)
    model.train()
    inputs, samples = make_batch(args.num_classes, args.batch, args.crop,
                                 'cpu')
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9)
    for _ in range(2):
        losses = model.loss(inputs, samples)
        total = sum(val for k, val in losses.items() if 'loss' in k)
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
    print(_peak_rss_mb())


def train_step_benchmark(args) -> Dict[str, float]:
    """Median step time and peak memory of each variant, and ratios to CE."""
    device = args.device
    torch.manual_seed(0)
    models, opts, steps = {}, {}, {}
    base = None
    inputs, samples = make_batch(args.num_classes, args.batch, args.crop,
                                 device)
    for v in args.variants:
        m = build_model(args.backbone, args.num_classes, v, args.crop,
                        args.semeda_options)
        if base is None:
            base = m.state_dict()
        m.load_state_dict(base)
        m.to(device).train()
        if args.channels_last:
            m.to(memory_format=torch.channels_last)
        models[v] = m
        opts[v] = torch.optim.SGD(m.parameters(), lr=1e-3, momentum=0.9)

        def step(m=m, opt=opts[v]):
            with torch.autocast(device_type=device.split(':')[0],
                                dtype=torch.float16 if device.startswith(
                                    'cuda') else torch.bfloat16,
                                enabled=args.amp):
                losses = m.loss(inputs, samples)
                total = sum(val for k, val in losses.items() if 'loss' in k)
            opt.zero_grad(set_to_none=True)
            total.backward()
            opt.step()

        steps[v] = step
    times: Dict[str, List[float]] = {v: [] for v in args.variants}
    for i in range(args.warmup + args.steps):
        order = args.variants if i % 2 == 0 else args.variants[::-1]
        for v in order:
            t = _timed(steps[v], device)
            if i >= args.warmup:
                times[v].append(t)
    out: Dict[str, float] = {}
    for v in args.variants:
        out[f'{v}_step_s'] = statistics.median(times[v])
        if device.startswith('cuda'):
            torch.cuda.reset_peak_memory_stats()
            steps[v]()
            _sync(device)
            out[f'{v}_peak_mb'] = torch.cuda.max_memory_allocated() / 2**20
    if not device.startswith('cuda'):
        out.update(_cpu_peaks(args))
    for v in args.variants:
        if v != 'ce':
            out[f'{v}_ratio'] = out[f'{v}_step_s'] / out['ce_step_s']
            # each step over CE's step of the same round: the machine's
            # slow drift (CE's own median moved 0.95-1.07 s between runs
            # here) cancels
            out[f'{v}_ratio_paired'] = statistics.median(
                t / c for t, c in zip(times[v], times['ce']))
            out[f'{v}_peak_ratio'] = out[f'{v}_peak_mb'] / out['ce_peak_mb']
            if not device.startswith('cuda'):
                out[f'{v}_peak_ratio_fixed_mmap'] = (
                    out[f'{v}_peak_mb_fixed_mmap'] /
                    out['ce_peak_mb_fixed_mmap'])
    return out


def loss_only_benchmark(args) -> Dict[str, float]:
    """Median forward + backward time of each loss alone on random logits."""
    from mmseg.models.losses import CrossEntropyLoss

    from mmseg_semeda.models.losses import SemedaLoss, SobelEdgeLoss
    device = args.device
    g = torch.Generator().manual_seed(1)
    from mmseg_semeda.pretrain.synthetic import voronoi_masks
    target = voronoi_masks(args.batch, args.crop, args.num_classes, g).to(
        device)
    logits = torch.randn(args.batch, args.num_classes, args.crop, args.crop,
                         generator=g).to(device).requires_grad_(True)
    fns = dict(ce=CrossEntropyLoss(),
               semeda=SemedaLoss(**(args.semeda_options or {})),
               sobel=SobelEdgeLoss())
    times: Dict[str, List[float]] = {v: [] for v in args.variants}
    for i in range(args.warmup + args.steps):
        for v in args.variants:

            def run(v=v):
                logits.grad = None
                fns[v](logits, target, ignore_index=255).backward()

            t = _timed(run, device)
            if i >= args.warmup:
                times[v].append(t)
    out = {f'{v}_loss_only_s': statistics.median(times[v])
           for v in args.variants}
    if 'semeda' in args.variants:
        out['semeda_convs_s'] = semeda_convs_time(fns['semeda'], logits,
                                                  args)
        out['semeda_loss_to_convs'] = (out['semeda_loss_only_s'] /
                                       out['semeda_convs_s'])
    for v in args.variants:
        if v != 'ce':
            out[f'{v}_loss_only_ratio'] = out[f'{v}_loss_only_s'] / out[
                'ce_loss_only_s']
    return out


def semeda_convs_time(loss, logits: torch.Tensor, args) -> float:
    """Median time of the convolutions SEMEDA runs, alone: the edge net's
    layers up to the last weighted one (its class embedding first, if it
    has one) on the probabilities (forward and input gradient) and on the
    labels (forward from layer 2; layer 1 is a lookup), zero padding, the
    loss's memory layouts."""
    import importlib

    import torch.nn.functional as F

    # (the package exports a function of the module's name)
    module = importlib.import_module('mmseg_semeda.models.losses.semeda_loss')
    net = loss.get_edge_net(logits.shape[1], logits.device)
    convs = [net.conv1, net.conv2,
             net.conv3][:module.num_active_layers(loss.layer_weights)]
    embed = getattr(net, 'embed', None)
    # on a CPU the loss feeds the first convolution channels-last: always
    # since the padded input, before it up to this many classes and with a
    # class embedding (for runs of earlier checkouts)
    few = logits.shape[1] <= getattr(module, 'CHANNELS_LAST_MAX_CLASSES',
                                     logits.shape[1])
    first_cl = embed is not None or few
    if embed is not None:
        convs.insert(0, embed)
    g = torch.Generator().manual_seed(2)
    inputs = []
    for i, conv in enumerate(convs):
        x = torch.rand(args.batch, conv.in_channels, args.crop, args.crop,
                       generator=g).to(args.device)
        if args.device == 'cpu' and (i or first_cl) and conv is not embed:
            x = x.contiguous(memory_format=torch.channels_last)
        inputs.append(x.requires_grad_(True))
    labels_from = convs.index(net.conv1) + 1

    def run():
        for conv, x in zip(convs, inputs):
            x.grad = None
            if conv is embed:  # as the loss runs it: one matrix product
                y = net.embed_classes(x)
            else:
                y = F.conv2d(x, conv.weight, conv.bias, padding=conv.padding)
            y.backward(torch.ones_like(y))
        with torch.no_grad():
            for conv, x in zip(convs[labels_from:], inputs[labels_from:]):
                F.conv2d(x, conv.weight, conv.bias, padding=conv.padding)

    times = [_timed(run, args.device)
             for _ in range(args.warmup + args.steps)][args.warmup:]
    return statistics.median(times)


def main(argv: Optional[List[str]] = None) -> dict:
    """Run the benchmark; returns the results (also printed)."""
    import mmseg_semeda  # noqa: F401
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument('--backbone', choices=sorted(BACKBONES), default='r18')
    p.add_argument('--crop', type=int, default=256)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--num-classes', type=int, default=21)
    p.add_argument('--device', default='cpu')
    p.add_argument('--amp', action='store_true',
                   help='autocast (fp16 on CUDA, bf16 on the CPU)')
    p.add_argument('--channels-last', action='store_true')
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--warmup', type=int, default=3)
    p.add_argument('--variants', nargs='+', default=['ce', 'semeda', 'sobel'],
                   choices=sorted(LOSSES))
    p.add_argument('--skip-train-step', action='store_true')
    p.add_argument('--semeda-options', nargs='+', action=DictAction,
                   metavar='KEY=VALUE',
                   help='SemedaLoss arguments, e.g. class_balance=True')
    p.add_argument('--memory-rounds', type=int, default=5,
                   help='fresh processes per variant for the CPU peak '
                   'memory; the median is reported')
    p.add_argument('--json', default=None, help='write the results here')
    p.add_argument('--memory-probe', default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.memory_probe:
        return _memory_probe(args)
    if args.memory_rounds < 1:
        p.error(f'--memory-rounds must be at least 1, got '
                f'{args.memory_rounds}')
    args.argv = [
        '--backbone', args.backbone, '--crop', str(args.crop), '--batch',
        str(args.batch), '--num-classes', str(args.num_classes)]
    if args.semeda_options:
        args.argv += ['--semeda-options'] + [
            f'{k}={v!r}' for k, v in args.semeda_options.items()]
    if 'ce' not in args.variants:
        args.variants = ['ce'] + args.variants
    result = dict(
        device=(torch.cuda.get_device_name(args.device)
                if args.device.startswith('cuda') else
                f'cpu ({platform.processor() or platform.machine()}, '
                f'{torch.get_num_threads()} threads)'),
        backbone=args.backbone, num_classes=args.num_classes,
        crop=args.crop, batch=args.batch, amp=args.amp, steps=args.steps,
        memory_rounds=args.memory_rounds,
        semeda_options=args.semeda_options or {},
        torch=torch.__version__)
    if not args.skip_train_step:
        result.update(train_step_benchmark(args))
    result.update(loss_only_benchmark(args))
    if args.device == 'cpu':  # the loss's own CPU kernels (built on first use)
        from mmseg_semeda.models.losses import cpu_kernels
        result.update(semeda_cpu_kernels=cpu_kernels.loaded(),
                      semeda_cpu_kernels_load_s=cpu_kernels.build_seconds())
    for k, v in result.items():
        print(f'{k}: {v:.4f}' if isinstance(v, float) else f'{k}: {v}')
    if args.json:

        def write(tmp):
            with open(tmp, 'w') as f:
                json.dump(result, f, indent=2)

        atomic_write(args.json, write)
    return result


if __name__ == '__main__':
    main()
