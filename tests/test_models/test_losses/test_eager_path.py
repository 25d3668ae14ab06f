"""The eager path as a GPU runs it (MMSEG_SEMEDA_CPU_KERNELS=0 here): the
whole batch at once, no host sync in a training step, deterministic ops,
and what it keeps for backward."""
import pytest
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from mmseg_semeda import SemedaEdgeNet, SemedaLoss


@pytest.fixture(autouse=True)
def _eager(monkeypatch):
    monkeypatch.setenv('MMSEG_SEMEDA_CPU_KERNELS', '0')


class _Ops(TorchDispatchMode):
    """Every aten operator call below autograd, by name."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.calls.append(func.overloadpacket.__name__)
        return func(*args, **(kwargs or {}))


def _batch(n, c=21, size=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, c, (n, size // 8, size // 8), generator=g)
    target = blocks.repeat_interleave(8, 1).repeat_interleave(8, 2)
    target[:, :4] = 255
    logits = torch.randn(n, c, size, size, generator=g, requires_grad=True)
    return logits, target


def plain_default(logits, target, net, ignore_index=255):
    """The default loss (lambda (4, 2, 0), band 3, class balance, weight 2)
    written straight and batched: the count the loss is held to."""
    c = logits.shape[1]
    valid = target != ignore_index
    label = torch.where(valid, target, 0)
    onehot = F.one_hot(label, c).permute(0, 3, 1, 2).float() * valid[:, None]
    probs = logits.float().softmax(1) * valid[:, None]
    t = F.pad(target[:, None].float(), (1, 1, 1, 1), mode='replicate')
    h, w = target.shape[-2:]
    windows = F.unfold(t, 3).view(len(target), 9, h, w)
    edge = (windows != target[:, None]).any(1) & valid
    near = F.max_pool2d(edge[:, None].float(), 5, 1, 2)[:, 0] > 0
    acting = (near & valid).float()
    counts = (onehot * acting[:, None]).sum((0, 2, 3))
    weight = counts.clamp(min=1).rsqrt()[label] * acting
    weight = weight * acting.sum() / weight.sum()
    loss, x, y = 0, probs, onehot
    for conv, lam in ((net.conv1, 4.0), (net.conv2, 2.0)):
        x = F.conv2d(F.pad(x, (1, 1, 1, 1), mode='replicate'), conv.weight,
                     conv.bias).relu()
        with torch.no_grad():
            y = F.conv2d(F.pad(y, (1, 1, 1, 1), mode='replicate'),
                         conv.weight, conv.bias).relu()
        loss = loss + lam * (x - y).abs().mean(1) * weight
    return 2.0 * loss.sum() / valid.sum()


def _count(fn, logits):
    with _Ops() as ops:
        fn().backward()
    logits.grad = None
    return ops.calls


@pytest.mark.parametrize('n', [1, 2, 4, 8])
def test_operator_calls_are_few_and_flat_in_the_batch(n, monkeypatch):
    """Forward and backward of a training step of the default loss (its
    input check, band, class balance and diagnostics included) against
    the same loss written plainly: at most 1.5x its calls, the same count
    at every batch size. The label-map helpers take their GPU form (on a
    CPU they take shifted comparisons, faster there)."""
    from mmengine.logging import MessageHub

    from mmseg_semeda import edges
    monkeypatch.setattr(edges, 'few_launches', lambda t: True)
    net = SemedaEdgeNet(21).freeze()
    logits, target = _batch(n)
    plain = _count(lambda: plain_default(logits, target, net), logits)
    hub = MessageHub.get_instance(f'test_semeda_ops_{n}')
    loss = SemedaLoss(start_iter=0)
    loss.get_edge_net(21, logits.device)
    counts = []
    for it in range(3):
        hub.update_info('iter', it)
        counts.append(len(_count(lambda: loss(logits, target), logits)))
    # the first call checks the labels, the second logs no diagnostics yet
    assert counts[2] <= 1.5 * len(plain), (counts, len(plain))
    test_operator_calls_are_few_and_flat_in_the_batch.counts[n] = counts[2]
    if len(test_operator_calls_are_few_and_flat_in_the_batch.counts) == 4:
        assert len(set(
            test_operator_calls_are_few_and_flat_in_the_batch.counts.values(
            ))) == 1


test_operator_calls_are_few_and_flat_in_the_batch.counts = {}


class _Syncs(TorchDispatchMode):
    """Host reads of device values: ``.item()``, ``bool()``, ``float()``,
    ``int()`` (all ``_local_scalar_dense``) and the operators whose output
    size depends on values (a sync on CUDA)."""

    SYNCING = {'_local_scalar_dense', 'nonzero', 'unique', '_unique2',
               'unique_consecutive', 'bincount', 'masked_select',
               'argwhere', 'repeat_interleave', 'histc', 'equal',
               'is_nonzero', 'item'}

    def __init__(self):
        super().__init__()
        self.syncs = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in self.SYNCING or (
                name == 'index' and any(
                    isinstance(i, torch.Tensor) and i.dtype == torch.bool
                    for i in args[1] if i is not None)):
            self.syncs.append(name)
        return func(*args, **(kwargs or {}))


@pytest.mark.parametrize('start_iter', [0, 'auto'])
def test_no_host_sync_in_a_training_step_but_the_first(start_iter):
    """Under a Runner (MessageHub ``iter`` set, so the diagnostics and the
    automatic start run): the first call checks the labels (one sync);
    later calls, forward and backward, read nothing from the device."""
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance(f'test_semeda_syncs_{start_iter}')
    logits, target = _batch(2)
    loss = SemedaLoss(start_iter=start_iter)
    for it in range(4):
        hub.update_info('iter', it)
        with _Syncs() as mode:
            value = loss(logits, target)
            if value.requires_grad:  # (before 'auto' switches on: zeros)
                value.backward()
        assert mode.syncs == (['_local_scalar_dense'] if it == 0 else []), it
    if start_iter == 0:
        assert hub.get_scalar('train/semeda/layer1').current() > 0


def test_deterministic_mode_runs_and_uses_no_op_that_raises_on_cuda():
    """torch.use_deterministic_algorithms(True) (MMEngine's
    ``randomness=dict(deterministic=True)``): the loss runs, and none of its
    operators is one that raises on CUDA in that mode (PyTorch's list,
    torch.use_deterministic_algorithms)."""
    raising = {'bincount', 'index_add', 'index_add_', 'put_', 'histc',
               'kthvalue', 'median', 'scatter_reduce', 'index_reduce',
               '_embedding_bag_backward', '_embedding_bag_dense_backward',
               'embedding_dense_backward', 'upsample_bilinear2d_backward',
               'adaptive_avg_pool2d_backward', '_adaptive_avg_pool2d_backward',
               'max_pool3d_with_indices_backward', 'grid_sampler_2d_backward',
               'nll_loss2d_forward', 'reflection_pad2d_backward',
               'ctc_loss', 'cumsum'}
    logits, target = _batch(2, c=150)
    net = SemedaEdgeNet(150, embed_channels=32).freeze()
    loss = SemedaLoss(start_iter=0)
    loss._set_edge_net(net)
    before = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    try:
        with _Ops() as ops:
            loss(logits, target).backward()
    finally:
        torch.use_deterministic_algorithms(before)
    used = set(ops.calls)
    assert not used & raising, used & raising
    # scatter_add_ only on 1-D tensors (deterministic on CUDA)
    assert 'scatter_add' in used or 'scatter_add_' in used


@pytest.mark.parametrize('dtype', [torch.float16, torch.bfloat16])
@pytest.mark.parametrize('c, embed', [(150, 32), (150, None), (21, None)])
def test_saved_for_backward_at_150_classes_half_precision(dtype, c, embed):
    """The eager path keeps no float32 copy of half-precision logits (it
    saves them as they are, shared with the head) and no C-channel map:
    besides the logits, the two layers' ReLU outputs and differences (16 and
    32 float32 channels each), three single-channel maps and the frozen
    weights; the gradient comes in the logits' dtype."""
    torch.manual_seed(0)
    n, h, w = 2, 40, 48
    net = SemedaEdgeNet(c, embed_channels=embed).freeze()
    logits = torch.randn(n, c, h, w, dtype=dtype, requires_grad=True)
    target = torch.randint(0, c, (n, h, w))
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    loss = SemedaLoss(start_iter=0)
    loss._set_edge_net(net)
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        value = loss(logits, target)
    value.backward()
    assert logits.grad.dtype == dtype
    own = logits.untyped_storage().data_ptr()
    assert own in saved  # the logits themselves, not a copy
    del saved[own]
    pixels = n * h * w
    maps = 2 * (16 + 32) * pixels * 4 + 3 * pixels * 4
    weights = ((embed or 0) * c + (embed or c) * 16 * 9 + 16 * 32 * 9 +
               16 + 32) * 4
    assert sum(saved.values()) <= maps + weights, (sum(saved.values()),
                                                    maps + weights)
