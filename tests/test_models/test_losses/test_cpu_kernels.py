"""The CPU kernels against the eager path and the plain float64 expressions."""
import os
import shutil
import warnings

import pytest
import torch
import torch.nn.functional as F

from mmseg_semeda import SemedaEdgeNet, semeda_loss
from mmseg_semeda.models.edge_net import fill_border_, padded_buffer
from mmseg_semeda.models.losses import cpu_kernels
from mmseg_semeda.models.losses.cpu_kernels.functions import (
    padded_softmax,
    relu_l1,
)

pytestmark = pytest.mark.skipif(
    shutil.which('c++') is None and shutil.which('g++') is None,
    reason='no C++ compiler to build the kernels')


@pytest.fixture
def kernels():
    module = cpu_kernels.kernels()
    assert module is not None, 'the CPU kernels did not build'
    return module


@pytest.fixture
def eager(monkeypatch):
    """Run the eager code, as on a machine where the kernels do not build."""
    monkeypatch.setattr(cpu_kernels, '_state', {'module': None})


def grads_of(outs, x, weights):
    return torch.autograd.grad(
        sum((o * w).sum() for o, w in zip(outs, weights)), x,
        retain_graph=True)[0]


@pytest.mark.parametrize('pad', [None, 0, 1, 2])
@pytest.mark.parametrize('size', [(9, 70), (1, 3), (2, 1)])
@pytest.mark.parametrize('padded_target', [False, True])
def test_relu_l1_kernel_equals_the_plain_expression(kernels, pad, size,
                                                    padded_target):
    """Term, relu output (padded) and gradient, float32 kernel against the
    float64 expression, for a channels-last target or one that is the
    interior of a padded buffer, rows longer than a block or one pixel."""
    torch.manual_seed(0)
    shape = (2, 16, *size)
    x = torch.randn(shape).contiguous(
        memory_format=torch.channels_last).requires_grad_(True)
    target = torch.randn(shape)
    target[:, :3] = 0  # ties with relu(x) where x <= 0
    if padded_target:
        buf, inner = padded_buffer(target, shape, 2)
        inner.copy_(target)
        target = inner
    x64 = x.detach().double().requires_grad_(True)
    want = [(x64.relu() - target.double().relu()).abs().mean(dim=1)]
    if pad is not None:
        want.append(F.pad(x64.relu(), (pad, ) * 4, mode='replicate'))
    kept = target.clone()
    got = [o for o in relu_l1(x, target, pad, kernels) if o is not None]
    assert torch.equal(target, kept)
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w.float())
    if pad is not None:
        assert got[1].is_contiguous(memory_format=torch.channels_last)
    weights = [torch.randn_like(w) for w in want]
    torch.testing.assert_close(grads_of(got, x, [w.float() for w in weights]),
                               grads_of(want, x64, weights).float())
    # the gradient of the term alone and of the relu output alone
    for i in range(len(got)):
        got = [o for o in relu_l1(x, target, pad, kernels) if o is not None]
        torch.testing.assert_close(
            torch.autograd.grad((got[i] * weights[i].float()).sum(), x)[0],
            grads_of(want[i:i + 1], x64, weights[i:i + 1]).float())


@pytest.mark.parametrize('pad', [0, 1, 2])
@pytest.mark.parametrize('shape', [(2, 21, 7, 70), (1, 3, 1, 1),
                                   (1, 150, 3, 5), (2, 150, 4, 83)])
@pytest.mark.parametrize('embed', [None, 32, 5])
def test_padded_softmax_kernel_equals_the_plain_expression(
        kernels, pad, shape, embed):
    """The masked softmax, through a class embedding (E, C) if given,
    written padded and channels-last, and its gradient, float32 kernel
    against the float64 expression: logits far apart (one class near
    certain), ignore pixels, one-pixel maps, rows longer than a block, row
    blocks of 16 pixels and fewer, embeddings of 8 rows and fewer."""
    torch.manual_seed(0)
    x = (torch.randn(shape) * 8).requires_grad_(True)
    valid = (torch.rand(shape[0], *shape[2:]) > 0.2).float()
    x64 = x.detach().double().requires_grad_(True)
    weight = None if embed is None else torch.randn(embed, shape[1])
    probs = x64.softmax(1)
    if weight is not None:
        probs = torch.einsum('ec,nchw->nehw', weight.double(), probs)
    want = F.pad(probs * valid.double().unsqueeze(1), (pad, ) * 4,
                 mode='replicate')
    got = torch.cat(padded_softmax(x, valid, weight, pad, kernels))
    assert got.is_contiguous(memory_format=torch.channels_last)
    # (float32 sums over E x C products with an embedding)
    tol = {} if embed is None else dict(atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got, want.float(), **tol)
    w = torch.randn_like(want)
    torch.testing.assert_close(grads_of([got], x, [w.float()]),
                               grads_of([want], x64, [w]).float(), **tol)


@pytest.mark.parametrize('num_classes', [3, 21])
@pytest.mark.parametrize('band_width,class_balance', [(None, True), (2, True),
                                                      (2, False)])
@pytest.mark.parametrize('layer_weights', [(4.0, 2.0, 1.0), (4.0, 2.0, 0.0),
                                           (0.0, 2.0, 0.0), (3.0, 0.0, 0.0)])
def test_loss_with_kernels_equals_the_eager_loss(kernels, monkeypatch,
                                                 num_classes, band_width,
                                                 class_balance, layer_weights):
    """The whole loss, with class balance, a band (the last relu layer then
    computed only there) and ignore pixels: the same value and gradient
    with and without kernels."""
    torch.manual_seed(0)
    net = SemedaEdgeNet(num_classes)
    x = torch.randn(2, num_classes, 20, 23, requires_grad=True)
    target = torch.randint(0, num_classes, (2, 20, 23))
    target[:, :3, :4] = 255
    kwargs = dict(layer_weights=layer_weights, band_width=band_width,
                  class_balance=class_balance)
    loss = semeda_loss(x, target, net, **kwargs)
    grad, = torch.autograd.grad(loss, x)
    monkeypatch.setattr(cpu_kernels, '_state', {'module': None})
    loss_eager = semeda_loss(x, target, net, **kwargs)
    grad_eager, = torch.autograd.grad(loss_eager, x)
    torch.testing.assert_close(loss, loss_eager)
    torch.testing.assert_close(grad, grad_eager)


def test_other_dtypes_and_a_failed_build_run_the_eager_code(monkeypatch,
                                                            tmp_path):
    """MMSEG_SEMEDA_CPU_KERNELS=0 turns them off; where they cannot be
    built, the loss warns once and gives the eager value."""
    monkeypatch.setenv('MMSEG_SEMEDA_CPU_KERNELS', '0')
    assert cpu_kernels.usable(torch.zeros(1)) is None
    monkeypatch.delenv('MMSEG_SEMEDA_CPU_KERNELS')
    net = SemedaEdgeNet(3)
    x = torch.randn(1, 3, 8, 8)
    target = torch.randint(0, 3, (1, 8, 8))
    want = semeda_loss(x, target, net)

    def no_compiler(*args, **kwargs):
        raise RuntimeError('no C++ compiler here')

    monkeypatch.setattr(cpu_kernels, '_state', {})
    monkeypatch.setenv('TORCH_EXTENSIONS_DIR', str(tmp_path))  # no build yet
    monkeypatch.setattr(torch.utils.cpp_extension, 'load', no_compiler)
    with pytest.warns(UserWarning, match='no C.. compiler here'):
        got = semeda_loss(x, target, net)
    with warnings.catch_warnings():
        warnings.simplefilter('error')  # only once
        semeda_loss(x, target, net)
    assert cpu_kernels.build_seconds() is not None
    torch.testing.assert_close(got, want)


def test_kernels_reject_maps_in_the_wrong_layout(kernels):
    x = torch.randn(1, 4, 3, 3)  # contiguous, not channels-last
    code = torch.empty(1, 4, 3, 3, dtype=torch.int8)
    with pytest.raises(RuntimeError, match='channels-last'):
        kernels.relu_l1_forward(x, x, torch.empty(1, 3, 3), code, None, 0)
    with pytest.raises(RuntimeError, match='float32'):
        kernels.softmax_padded_forward(x.double(), torch.ones(1, 3, 3), [],
                                       0)


@pytest.mark.parametrize('net_kwargs', [
    dict(num_classes=5), dict(num_classes=5, kernel_size=1),
    dict(num_classes=5, kernel_size=5, channels=(8, 4)),
    dict(num_classes=40, embed_channels=6)])
@pytest.mark.parametrize('ignore_index', [255, 2, None])
@pytest.mark.parametrize('size', [(9, 70), (1, 1)])
def test_labels_kernel_equals_the_edge_net_on_one_hot_labels(
        kernels, net_kwargs, ignore_index, size):
    """relu(conv1(onehot(labels))), written replicate-padded: the kernel
    against the edge net's own first layer on the float64 one-hot map
    (zero class vectors at the ignore label), a class embedding folded in,
    kernel sizes 1, 3 and 5."""
    torch.manual_seed(0)
    net = SemedaEdgeNet(**net_kwargs)
    c, pad = net.num_classes, net.kernel_size // 2
    label = torch.randint(0, c, (2, *size))
    label[:, :1, :2] = 255
    probs = F.one_hot(label.clamp(max=c - 1), c).permute(0, 3, 1, 2).double()
    # no class at the ignore label, nor at 255, outside [0, C)
    ignored = (label == 255) | (label == ignore_index)
    probs = probs * ~ignored.unsqueeze(1)
    want = F.pad(net.double().pre_activations(probs, 1)[0].relu(),
                 (pad, ) * 4, mode='replicate')
    net.float()
    bufs = [padded_buffer(probs.float(), (1, want.shape[1], *size), pad)[0]
            for _ in range(2)]
    kernels.labels_first_layer(label, net.label_table(), net.conv1.bias,
                               net.kernel_size,
                               -1 if ignore_index is None else ignore_index,
                               bufs, pad)
    got = torch.cat([fill_border_(b, pad) for b in bufs])
    torch.testing.assert_close(got, want.float())


@pytest.mark.parametrize('net_kwargs', [
    dict(num_classes=5), dict(num_classes=5, kernel_size=1),
    dict(num_classes=5, kernel_size=5, channels=(8, 4)),
    dict(num_classes=40, embed_channels=6)])
@pytest.mark.parametrize('size', [(24, 70), (2, 3), (1, 1)])
def test_labels_second_layer_kernel_equals_the_edge_net(kernels, net_kwargs,
                                                        size):
    """The labels' second layer before its relu (a precomputed row where
    the window holds one label, the sum elsewhere) against the edge net on
    the float64 one-hot map: blocks of one label with ignore pixels and
    out-of-range labels among them, maps smaller than the window."""
    from mmseg_semeda.models.losses.cpu_kernels.functions import (
        _second_layer_tables,
    )
    torch.manual_seed(0)
    net = SemedaEdgeNet(**net_kwargs)
    c, pad = net.num_classes, net.kernel_size // 2
    label = torch.randint(0, c, (2, 1 + size[0] // 8, 1 + size[1] // 8))
    label = label.repeat_interleave(8, 1).repeat_interleave(8, 2)
    label = label[:, :size[0], :size[1]].contiguous()
    label[0, :3, :5] = 255
    label[1, -2:, -1] = c  # outside [0, C): no class, as the ignore label
    probs = F.one_hot(label.clamp(max=c - 1), c).permute(0, 3, 1, 2).double()
    probs = probs * (label < c).unsqueeze(1)
    want = net.double().pre_activations(probs, 2)[1]
    net.float()
    bufs = [padded_buffer(probs.float(), (1, net.conv1.out_channels, *size),
                          pad)[0] for _ in range(2)]
    table = net.label_table()
    kernels.labels_first_layer(label, table, net.conv1.bias, net.kernel_size,
                               255, bufs, pad)
    bufs = [fill_border_(b, pad) for b in bufs]
    got = kernels.labels_second_layer(label, bufs,
                                      *_second_layer_tables(net, table), 255)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, want.float(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('channels', [(16, 32), (6, 5)])
def test_masked_conv_kernel_equals_the_convolution_on_the_mask(kernels,
                                                               channels):
    """The last layer's convolution where the mask is not zero (four pixels
    at a time, then one) and 0 elsewhere; its gradient is the dense one."""
    from mmseg_semeda.models.losses.cpu_kernels.functions import _MaskedConv
    torch.manual_seed(0)
    ci, co = channels
    x = torch.randn(1, ci, 11, 40).contiguous(
        memory_format=torch.channels_last).requires_grad_(True)
    weight, bias = torch.randn(co, ci, 3, 3), torch.randn(co)
    mask = (torch.rand(9, 38) > 0.6).float() * torch.rand(9, 38)
    got = _MaskedConv.apply(x, weight, bias, mask, kernels)
    want = F.conv2d(x, weight, bias) * (mask > 0)
    assert got.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)
    w = torch.randn_like(want) * (mask > 0)
    torch.testing.assert_close(grads_of([got], x, [w]),
                               grads_of([want], x, [w]))


@pytest.fixture(params=[None, 5], ids=['threads as set', '5 threads'])
def threads(request):
    """torch's thread count as set, or 5: each thread's rows fewer than the
    kernel's window on the smaller maps."""
    old = torch.get_num_threads()
    if request.param:
        torch.set_num_threads(request.param)
    yield
    torch.set_num_threads(old)


@pytest.mark.parametrize('net_kwargs', [
    dict(num_classes=21), dict(num_classes=40), dict(num_classes=6),
    dict(num_classes=5, channels=(6, 5)),
    dict(num_classes=5, kernel_size=5, channels=(8, 4))])
@pytest.mark.parametrize('size', [(13, 70), (2, 3), (1, 1)])
@pytest.mark.parametrize('density', [0.0, 0.4, 1.0])
def test_masked_layers_equal_the_plain_expression(kernels, threads,
                                                  net_kwargs, size, density):
    """Both layers' ReLU-L1 terms in one kernel, the first where ``reach``
    is not zero and the second where the mask is, 0 elsewhere, against the
    float64 edge net on the padded input and on the one-hot labels (ignore
    pixels, labels outside [0, C), uniform windows and others); the input
    gradient through both terms against autograd's. Empty, sparse and full
    masks; input channels that fill 16 or 32 vector lanes, fewer and more;
    maps of one row and one pixel (every row a replicated one)."""
    from mmseg_semeda.models.losses.cpu_kernels.functions import (
        _MaskedLayers,
        _second_layer_tables,
    )
    torch.manual_seed(0)
    net = SemedaEdgeNet(**net_kwargs).freeze()
    c, pad = net.num_classes, net.kernel_size // 2
    label = torch.randint(0, c, (1, 1 + size[0] // 6, 1 + size[1] // 6))
    label = label.repeat_interleave(6, 1).repeat_interleave(6, 2)
    label = label[:, :size[0], :size[1]].contiguous()
    label[0, :2, :5] = 255
    label[0, -1, -2:] = c
    onehot = F.one_hot(label.clamp(max=c - 1), c).permute(0, 3, 1, 2)
    onehot = onehot.double() * (label < c).unsqueeze(1)
    gt1, gt2 = net.double().pre_activations(onehot, 2)
    net.float()
    x = F.pad(torch.rand(1, c, *size), (pad, ) * 4, mode='replicate')
    x = x.contiguous(memory_format=torch.channels_last).requires_grad_(True)
    mask = (torch.rand(size) < density).float() * torch.rand(size)
    reach = kernels.dilate_mask(mask, pad)
    table = net.label_table()
    term1, term2 = _MaskedLayers.apply(
        x, net.conv1.weight, net.conv1.bias, reach, mask, label,
        (table, ) + _second_layer_tables(net, table), 255, kernels)
    relu1 = F.conv2d(x.double(), net.conv1.weight.double(),
                     net.conv1.bias.double()).relu()
    pre2 = F.conv2d(F.pad(relu1, (pad, ) * 4, mode='replicate'),
                    net.conv2.weight.double(), net.conv2.bias.double())
    want1 = (relu1 - gt1.relu()).abs().mean(1) * (reach > 0)
    want2 = (pre2.relu() - gt2.relu()).abs().mean(1) * (mask > 0)
    torch.testing.assert_close(term1, want1.float(), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(term2, want2.float(), atol=1e-5, rtol=1e-5)
    w1, w2 = torch.randn(1, *size), torch.randn(1, *size)
    torch.testing.assert_close(
        grads_of([term1, term2], x, [w1, w2]),
        grads_of([want1, want2], x, [w1.double(), w2.double()]).float(),
        atol=1e-5, rtol=1e-5)
    # either term alone (the other's weight zero)
    torch.testing.assert_close(
        grads_of([term2], x, [w2]),
        grads_of([want2], x, [w2.double()]).float(), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize('shape', [(2, 3), (2, 130, 180, 180)])
def test_empty_large_gives_an_ordinary_tensor(kernels, shape):
    """Tensors of 32 MB and more come from the kernels' own mapping (huge
    pages advised); small ones from torch. Either is a float32 contiguous
    tensor that arithmetic and autograd's accumulation can use in place."""
    t = kernels.empty_large(shape)
    assert t.shape == shape and t.dtype == torch.float32 and t.is_contiguous()
    t.fill_(1.5).add_(torch.ones(shape))
    assert t.sum().item() == 2.5 * t.numel()
    del t


@pytest.mark.parametrize('age_s,removed', [(3600, True), (5, False)])
def test_a_stale_build_lock_is_removed(monkeypatch, tmp_path, age_s,
                                       removed):
    """A lock older than STALE_LOCK_S (a build killed midway) is removed
    before torch's loader runs, which would wait for it forever; a recent
    one (another process building) is left to the loader."""
    monkeypatch.setenv('TORCH_EXTENSIONS_DIR', str(tmp_path))
    name, directory, _, _ = cpu_kernels._target()
    lock = tmp_path / name / 'lock'
    lock.parent.mkdir()
    lock.touch()
    old = lock.stat().st_mtime - age_s
    os.utime(lock, (old, old))
    seen = []

    def fake_load(**kwargs):
        seen.append(lock.exists())
        return 'module'

    monkeypatch.setattr(torch.utils.cpp_extension, 'load', fake_load)
    assert cpu_kernels._build() == 'module'
    assert seen == [not removed]


@pytest.mark.parametrize('size', [(13, 70), (1, 1), (3, 2)])
@pytest.mark.parametrize('radius', [0, 1, 2])
def test_dilate_mask_equals_max_pooling(kernels, size, radius):
    """The pixels within ``radius`` of a non-zero one (weights, not only
    ones), as a stride-1 max pooling of the indicator."""
    torch.manual_seed(0)
    mask = (torch.rand(size) > 0.9).float() * torch.rand(size)
    want = F.max_pool2d((mask != 0).float()[None], 2 * radius + 1, 1,
                        radius)[0]
    torch.testing.assert_close(kernels.dilate_mask(mask, radius), want)


def test_the_loss_uses_the_kernels_where_they_build(kernels, monkeypatch):
    """On a CPU where they build, every call of the loss takes the kernel
    path (and not the eager one) unless MMSEG_SEMEDA_CPU_KERNELS=0."""
    import importlib
    loss_module = importlib.import_module(
        'mmseg_semeda.models.losses.semeda_loss')
    taken = []
    for module, name in ((cpu_kernels, 'kernel_terms'),
                         (loss_module, '_eager_terms')):
        real = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda *a, _n=name, _f=real, **k: (
                                taken.append(_n), _f(*a, **k))[1])
    net = SemedaEdgeNet(5)
    x = torch.randn(2, 5, 12, 12, requires_grad=True)
    target = torch.randint(0, 5, (2, 12, 12))
    for kwargs in (dict(), dict(band_width=3, class_balance=True),
                   dict(layer_weights=(1.0, 1.0, 1.0))):
        semeda_loss(x, target, net, **kwargs).backward()
    x16 = x.detach().bfloat16().requires_grad_()
    semeda_loss(x16, target, net).backward()
    assert taken == ['kernel_terms'] * 4
    monkeypatch.setenv('MMSEG_SEMEDA_CPU_KERNELS', '0')
    semeda_loss(x, target, net).backward()
    assert taken[-1] == '_eager_terms'
