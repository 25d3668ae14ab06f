import copy
import os

import pytest
import torch

from mmseg_semeda import SemedaEdgeNet, SemedaLoss, semeda_loss
from mmseg_semeda.edges import onehot

C = 4


def square_label(size=32, shift=0, hole=False):
    label = torch.zeros(1, size, size, dtype=torch.long)
    label[:, 8 + shift:24 + shift, 8:24] = 2
    label[:, :, 28:] = 3
    if hole:
        label[:, 14:18, 14:18] = 0
    return label


def confident_logits(label, scale=20.0):
    return onehot(label, C, 255) * scale


def test_loss_is_non_negative_and_scalar(trained_edge_net):
    torch.manual_seed(0)
    loss = semeda_loss(torch.randn(2, C, 16, 16), torch.randint(0, C, (2, 16,
                                                                    16)),
                       trained_edge_net)
    assert loss.ndim == 0 and loss.item() >= 0


def test_confident_correct_prediction_is_near_zero_and_errors_are_not(
        trained_edge_net):
    gt = square_label()
    perfect = semeda_loss(confident_logits(gt), gt, trained_edge_net)
    shifted = semeda_loss(confident_logits(square_label(shift=2)), gt,
                          trained_edge_net)
    holed = semeda_loss(confident_logits(square_label(hole=True)), gt,
                        trained_edge_net)
    assert perfect.item() < 1e-4
    assert shifted.item() > 100 * max(perfect.item(), 1e-6)
    assert holed.item() > 100 * max(perfect.item(), 1e-6)


def test_exactly_invariant_to_logits_at_ignore_pixels(trained_edge_net):
    torch.manual_seed(0)
    target = torch.randint(0, C, (2, 20, 20))
    target[:, 5:12, 3:15] = 255
    logits = torch.randn(2, C, 20, 20)
    other = logits.clone()
    other[:, :, 5:12, 3:15] = torch.randn(2, C, 7, 12) * 50
    a = semeda_loss(logits, target, trained_edge_net)
    b = semeda_loss(other, target, trained_edge_net)
    assert torch.equal(a, b)
    logits.requires_grad_(True)
    semeda_loss(logits, target, trained_edge_net).backward()
    assert logits.grad[:, :, 5:12, 3:15].abs().max() == 0
    assert logits.grad.abs().sum() > 0


@pytest.mark.parametrize('ignore_index', [255, 0, -1])
def test_ignore_index_is_the_one_given(trained_edge_net, ignore_index):
    torch.manual_seed(1)
    target = torch.randint(1, C, (1, 12, 12))
    target[:, :4] = ignore_index
    logits = torch.randn(1, C, 12, 12)
    other = logits.clone()
    other[:, :, :4] += 10 * torch.randn(1, C, 4, 12)
    assert torch.equal(semeda_loss(logits, target, trained_edge_net,
                                   ignore_index=ignore_index),
                       semeda_loss(other, target, trained_edge_net,
                                   ignore_index=ignore_index))


def test_all_ignore_gives_finite_zero_and_zero_grad(trained_edge_net):
    logits = torch.randn(2, C, 8, 8, requires_grad=True)
    target = torch.full((2, 8, 8), 255)
    loss = semeda_loss(logits, target, trained_edge_net)
    assert torch.isfinite(loss) and loss.item() == 0
    loss.backward()
    assert torch.all(logits.grad == 0)


def test_mean_is_over_valid_pixels_and_reductions_agree(trained_edge_net):
    torch.manual_seed(2)
    target = torch.randint(0, C, (2, 10, 10))
    target[0, :5] = 255
    logits = torch.randn(2, C, 10, 10)
    per_pixel = semeda_loss(logits, target, trained_edge_net,
                            reduction='none')
    assert per_pixel.shape == (2, 10, 10)
    assert per_pixel[0, :5].abs().max() == 0
    total = semeda_loss(logits, target, trained_edge_net, reduction='sum')
    mean = semeda_loss(logits, target, trained_edge_net)
    torch.testing.assert_close(total, per_pixel.sum())
    torch.testing.assert_close(mean, per_pixel.sum() / 150)
    half = semeda_loss(logits, target, trained_edge_net, avg_factor=75.0)
    torch.testing.assert_close(half, 2 * mean)


def test_pixel_weight(trained_edge_net):
    torch.manual_seed(3)
    target = torch.randint(0, C, (1, 8, 8))
    logits = torch.randn(1, C, 8, 8)
    weight = torch.zeros(1, 8, 8)
    weight[:, :4] = 1
    per_pixel = semeda_loss(logits, target, trained_edge_net,
                            reduction='none')
    got = semeda_loss(logits, target, trained_edge_net, weight=weight,
                      reduction='sum')
    torch.testing.assert_close(got, per_pixel[:, :4].sum())


def test_hand_computed_value_with_a_single_layer():
    """Layer 1 only, identity-like 1-channel net: the loss is the mean of
    |relu(w * p + b) - relu(w * onehot + b)| over valid pixels."""
    net = SemedaEdgeNet(2, channels=(1, 1), kernel_size=1)
    with torch.no_grad():
        net.conv1.weight.copy_(torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))
        net.conv1.bias.zero_()
    logits = torch.zeros(1, 2, 1, 2)  # p(class 0) = 0.5 everywhere
    target = torch.tensor([[[0, 1]]])
    loss = semeda_loss(logits, target, net, layer_weights=(3.0, 0.0, 0.0))
    # pixel 0: |0.5 - 1| = 0.5 ; pixel 1: |0.5 - 0| = 0.5 -> mean 0.5, x3
    torch.testing.assert_close(loss, torch.tensor(1.5))


def test_gradcheck_float64(trained_edge_net):
    net = copy.deepcopy(trained_edge_net).double()
    target = torch.randint(0, C, (1, 6, 6), generator=torch.Generator()
                           .manual_seed(0))
    target[0, 0, :3] = 255
    logits = torch.randn(1, C, 6, 6, dtype=torch.float64, requires_grad=True)

    def fn(x):
        # float64 all the way: call the pieces the loss is made of.
        probs = x.softmax(1) * (target != 255).unsqueeze(1)
        with torch.no_grad():
            gt = net.forward_labels(target, 255, 3)
        out = 0
        for lam, p, g in zip((2.0, 4.0, 1.0), net(probs), gt):
            out = out + lam * ((p - g).abs().mean(1) *
                               (target != 255)).sum()
        return out

    assert torch.autograd.gradcheck(fn, (logits, ), eps=1e-6, atol=1e-5)


def reference_semeda(logits, target, net, lams, ignore_index=255,
                     band_width=None, class_balance=False):
    """The loss written plainly in float64: one-hot by comparison, the three
    convolutions with replicate padding, edges by comparing shifted maps,
    the band by a max filter, class balance by counting each class's acting
    pixels in a Python loop; mean over valid pixels."""
    x = logits.double()
    c = x.shape[1]
    valid = (target != ignore_index).double()
    probs = x.softmax(1) * valid[:, None]
    onehot = (target[:, None] == torch.arange(c)[None, :, None, None])
    onehot = onehot.double() * valid[:, None]
    convs = [getattr(net, f'conv{i}') for i in (1, 2, 3)]

    def embed(v):
        outs = []
        if net.embed is not None:  # the 1 x 1 class embedding first
            v = torch.nn.functional.conv2d(v, net.embed.weight.double())
        for i, conv in enumerate(convs):
            v = torch.nn.functional.conv2d(
                torch.nn.functional.pad(v, (1, 1, 1, 1), mode='replicate'),
                conv.weight.double(), conv.bias.double())
            outs.append(v.softmax(1) if i == 2 else v.relu())
            v = outs[-1]
        return outs

    per_pixel = 0
    for lam, p, g in zip(lams, embed(probs), embed(onehot)):
        per_pixel = per_pixel + lam * (p - g).abs().mean(1)
    if band_width is not None:
        t = torch.nn.functional.pad(target[:, None].double(), (1, 1, 1, 1),
                                    mode='replicate')
        h, w = target.shape[-2:]
        edge = torch.zeros_like(valid, dtype=torch.bool)
        for dy in range(3):
            for dx in range(3):
                edge |= t[:, 0, dy:dy + h, dx:dx + w] != target
        near = torch.nn.functional.max_pool2d(
            edge[:, None].double(), 2 * band_width - 1, 1,
            band_width - 1)[:, 0]
        per_pixel = per_pixel * near
    if class_balance:
        acting = (valid > 0) if band_width is None else (near > 0) & (
            valid > 0)
        weight = torch.zeros_like(valid)
        for k in range(c):
            pixels = acting & (target == k)
            if pixels.any():
                weight[pixels] = float(pixels.sum()) ** -0.5
        per_pixel = per_pixel * weight * acting.sum() / weight.sum()
    return (per_pixel * valid).sum() / valid.sum()


@pytest.mark.parametrize('backend', ['kernels', 'eager'])
@pytest.mark.parametrize(
    'num_classes, band_width, ignore, embed, lams, balance', [
        (3, None, False, None, (2.0, 4.0, 1.0), False),
        (3, 3, True, None, (2.0, 4.0, 1.0), True),
        (21, 3, True, None, (2.0, 4.0, 1.0), False),
        (21, 3, True, None, (4.0, 2.0, 0.0), True),
        (21, None, True, None, (4.0, 2.0, 0.0), True),
        (150, None, True, None, (2.0, 4.0, 1.0), False),
        (150, 2, False, None, (2.0, 4.0, 1.0), True),
        (150, 3, True, 32, (2.0, 4.0, 1.0), False),
        (150, 3, True, 32, (4.0, 2.0, 0.0), True),
        (40, None, False, 8, (2.0, 4.0, 1.0), True)])
def test_value_and_gradient_equal_a_float64_reference(
        monkeypatch, backend, num_classes, band_width, ignore, embed, lams,
        balance):
    """Both paths of the loss (the CPU kernels: channels-last image by
    image, two layers with a band computed only where weighted; the eager
    path: the whole batch in plain PyTorch), with a class embedding, a
    band, class balance and ignore pixels, against the plain float64
    expression, value and gradient, 3 images."""
    if backend == 'eager':
        monkeypatch.setenv('MMSEG_SEMEDA_CPU_KERNELS', '0')
    g = torch.Generator().manual_seed(num_classes)
    torch.manual_seed(num_classes)
    net = SemedaEdgeNet(num_classes, embed_channels=embed).freeze()
    blocks = torch.randint(0, num_classes, (3, 5, 6), generator=g)
    target = blocks.repeat_interleave(4, 1).repeat_interleave(4, 2)
    target = target[:, :18, :22].contiguous()
    if ignore:
        target[0, 3:9, 5:12] = 255
    logits = torch.randn(3, num_classes, 18, 22, generator=g) * 3
    x32 = logits.clone().requires_grad_(True)
    got = semeda_loss(x32, target, net, lams, band_width=band_width,
                      class_balance=balance)
    got.backward()
    x64 = logits.double().requires_grad_(True)
    want = reference_semeda(x64, target, net, lams, band_width=band_width,
                            class_balance=balance)
    want.backward()
    assert want > 0
    torch.testing.assert_close(got, want.float(), rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(x32.grad, x64.grad.float(), rtol=1e-4,
                               atol=1e-9)


@pytest.mark.parametrize('band_width', [None, 2])
def test_class_balance_weights_rare_classes_up_keeping_the_total(
        trained_edge_net, band_width):
    torch.manual_seed(9)
    target = torch.zeros(2, 24, 24, dtype=torch.long)
    target[:, 4:20, 2:22] = 1          # a large region
    target[0, 10:12, 10:12] = 2        # a rare class: 4 pixels
    target[1, :, 20:] = 255
    logits = torch.randn(2, C, 24, 24)
    kwargs = dict(reduction='none', band_width=band_width)
    plain = semeda_loss(logits, target, trained_edge_net, **kwargs)
    balanced = semeda_loss(logits, target, trained_edge_net,
                           class_balance=True, **kwargs)
    acting = target != 255
    if band_width is not None:
        acting &= plain > 0
    counts = {c: int((target[acting] == c).sum()) for c in (0, 1, 2)}
    assert counts[2] == 4 and counts[1] > 10 * counts[2]
    weight = torch.zeros(target.shape)
    for c, n in counts.items():
        weight[acting & (target == c)] = n ** -0.5
    weight *= acting.sum() / weight.sum()
    torch.testing.assert_close(balanced, plain * weight)
    assert weight[target == 2].min() > 3 * weight[target == 1].max()


def _class_balance_rank(rank, init_file, out_dir):
    """One DDP rank (gloo) of two, given image ``rank`` of the batch."""
    import torch.distributed as dist
    dist.init_process_group('gloo', init_method=f'file://{init_file}',
                            rank=rank, world_size=2)
    try:
        target, logits = _two_image_batch()
        loss = SemedaLoss(num_classes=8, reduction='none', start_iter=0)
        got = loss(logits[rank:rank + 1], target[rank:rank + 1])
        torch.save(got, os.path.join(out_dir, f'rank{rank}.pt'))
    finally:
        dist.destroy_process_group()


def _two_image_batch():
    """Two images whose class counts differ: class 2 only in the first."""
    torch.manual_seed(4)
    target = torch.zeros(2, 24, 24, dtype=torch.long)
    target[:, 4:20, 2:22] = 1
    target[0, 8:14, 8:14] = 2
    target[1, 12:, :] = 3
    return target, torch.randn(2, 8, 24, 24)


def test_class_balance_counts_over_ddp_ranks(tmp_path):
    """Two ranks of one image each weight every pixel as one process with
    both images does (the classes counted over the ranks), not as each
    image alone would."""
    import torch.multiprocessing as mp
    mp.spawn(_class_balance_rank,
             args=(str(tmp_path / 'init'), str(tmp_path)), nprocs=2)
    target, logits = _two_image_batch()
    whole = SemedaLoss(num_classes=8, reduction='none', start_iter=0)
    want = whole(logits, target)
    alone = torch.cat([whole(logits[i:i + 1], target[i:i + 1])
                       for i in (0, 1)])
    got = torch.cat([torch.load(tmp_path / f'rank{r}.pt') for r in (0, 1)])
    assert (alone - want).abs().max() > 1e-3  # the test can tell them apart
    torch.testing.assert_close(got, want)


def test_zero_layer_weights_skip_layers(trained_edge_net):
    torch.manual_seed(4)
    target = torch.randint(0, C, (1, 8, 8))
    logits = torch.randn(1, C, 8, 8)
    l1 = semeda_loss(logits, target, trained_edge_net, (1.0, 0.0, 0.0))
    l2 = semeda_loss(logits, target, trained_edge_net, (0.0, 1.0, 0.0))
    both = semeda_loss(logits, target, trained_edge_net, (1.0, 1.0, 0.0))
    torch.testing.assert_close(both, l1 + l2)
    assert semeda_loss(logits, target, trained_edge_net,
                       (0.0, 0.0, 0.0)).item() == 0


def test_function_equals_module(edge_net_file, trained_edge_net):
    torch.manual_seed(5)
    target = torch.randint(0, C, (2, 12, 12))
    target[:, 0] = 255
    logits = torch.randn(2, C, 12, 12)
    module = SemedaLoss(checkpoint=edge_net_file, layer_weights=(1, 2, 3),
                        loss_weight=0.5, band_width=None, class_balance=False)
    expected = 0.5 * semeda_loss(logits, target, trained_edge_net, (1, 2, 3))
    torch.testing.assert_close(module(logits, target), expected)
    assert module.loss_name == 'loss_semeda'


def test_module_defaults_are_the_measured_form(edge_net_file,
                                               trained_edge_net):
    """SemedaLoss() = 2 x the function with band 3, lambda (4, 2, 0) and
    class balance; the function itself keeps the paper's defaults (every
    pixel alike)."""
    torch.manual_seed(15)
    target = torch.randint(0, C, (2, 16, 16))
    logits = torch.randn(2, C, 16, 16)
    module = SemedaLoss(checkpoint=edge_net_file)
    assert (module.layer_weights, module.band_width, module.loss_weight,
            module.class_balance) == ((4.0, 2.0, 0.0), 3, 2.0, True)
    expected = 2.0 * semeda_loss(logits, target, trained_edge_net,
                                 (4.0, 2.0, 0.0), band_width=3,
                                 class_balance=True)
    torch.testing.assert_close(module(logits, target), expected)
    paper = SemedaLoss(checkpoint=edge_net_file, layer_weights='voc',
                       band_width=None, loss_weight=1.0, class_balance=False)
    torch.testing.assert_close(paper(logits, target),
                               semeda_loss(logits, target, trained_edge_net))


def test_edge_net_is_frozen_and_outside_the_state_dict(edge_net_file):
    loss = SemedaLoss(checkpoint=edge_net_file)
    assert list(loss.parameters()) == []
    assert loss.state_dict() == {}
    logits = torch.randn(1, C, 8, 8, requires_grad=True)
    loss.train()
    loss(logits, torch.randint(0, C, (1, 8, 8))).backward()
    assert not loss.edge_net.training
    assert all(p.grad is None and not p.requires_grad
               for p in loss.edge_net.parameters())
    assert logits.grad is not None


def _upcast_check(device, dtype, edge_net_file):
    """Under autocast the loss equals the float32 loss of the same
    low-precision logits, in value and gradient: nothing in it runs in
    ``dtype``."""
    torch.manual_seed(6)
    loss = SemedaLoss(checkpoint=edge_net_file, band_width=None)
    target = torch.randint(0, C, (2, 16, 16), device=device)
    low = (torch.randn(2, C, 16, 16, device=device) * 4).to(dtype)
    ref_x = low.float().requires_grad_(True)
    ref = loss(ref_x, target)
    ref.backward()
    x = low.clone().requires_grad_(True)
    with torch.autocast(device, dtype=dtype):
        got = loss(x, target)
    got.backward()
    assert got.dtype == torch.float32 and x.grad.dtype == dtype
    torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(x.grad.float(), ref_x.grad.to(dtype).float(),
                               rtol=0, atol=0)


def test_bf16_autocast_runs_the_loss_in_float32(edge_net_file):
    _upcast_check('cpu', torch.bfloat16, edge_net_file)


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_fp16_autocast_runs_the_loss_in_float32(edge_net_file):
    _upcast_check('cuda', torch.float16, edge_net_file)


def test_fp16_logits_are_upcast(trained_edge_net):
    target = torch.randint(0, C, (1, 8, 8))
    logits = torch.randn(1, C, 8, 8)
    got = semeda_loss(logits.half(), target, trained_edge_net)
    assert got.dtype == torch.float32
    torch.testing.assert_close(
        got, semeda_loss(logits.half().float(), target, trained_edge_net))


@pytest.mark.parametrize('pred, target, err, match', [
    (torch.randn(C, 8, 8), torch.zeros(1, 8, 8, dtype=torch.long),
     ValueError, r'expected logits \(N, C, H, W\)'),
    (torch.randn(1, C, 8, 8), torch.zeros(1, 8, 7, dtype=torch.long),
     ValueError, r'expected \(N, H, W\) = \(1, 8, 8\)'),
    (torch.randn(1, C, 8, 8), torch.zeros(1, 8, 8), TypeError,
     'integer label map'),
    (torch.randn(1, C, 8, 8), torch.full((1, 8, 8), C, dtype=torch.long),
     ValueError, rf'in \[0, {C}\) or ignore_index=255, got \[{C}\]'),
    (torch.randn(1, C + 1, 8, 8), torch.zeros(1, 8, 8, dtype=torch.long),
     ValueError, f'{C + 1} classes but'),
])
def test_clear_errors(edge_net_file, pred, target, err, match):
    with pytest.raises(err, match=match):
        SemedaLoss(checkpoint=edge_net_file)(pred, target)


def test_checkpoint_errors(tmp_path, edge_net_file):
    with pytest.raises(FileNotFoundError, match='not found'):
        SemedaLoss(checkpoint=str(tmp_path / 'missing.pth'))
    torch.save({'foo': 1}, tmp_path / 'other.pth')
    with pytest.raises(ValueError, match='not an edge-net checkpoint'):
        SemedaLoss(checkpoint=str(tmp_path / 'other.pth'))
    with pytest.raises(ValueError, match='trained for 4'):
        SemedaLoss(num_classes=5, checkpoint=edge_net_file)
    with pytest.raises(ValueError, match="start with 'loss_'"):
        SemedaLoss(checkpoint=edge_net_file, loss_name='semeda')
    with pytest.raises(ValueError, match='layer_weights'):
        SemedaLoss(checkpoint=edge_net_file, layer_weights=(1, 2))


class _SideEffect:
    """Unpickling this creates a file: the payload of a malicious
    checkpoint."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, 'w'))


def test_a_malicious_checkpoint_is_refused_and_runs_nothing(tmp_path):
    marker = tmp_path / 'pwned'
    good = SemedaEdgeNet(C)
    path = tmp_path / 'evil.pth'
    torch.save(dict(format='mmseg_semeda.SemedaEdgeNet', num_classes=C,
                    channels=[16, 32], kernel_size=3, version='0',
                    meta=dict(x=_SideEffect(str(marker))),
                    state_dict=good.state_dict()), path)
    assert not marker.exists()
    with pytest.raises(ValueError, match='not a readable edge-net checkpoint'):
        SemedaEdgeNet.from_checkpoint(str(path))
    with pytest.raises(ValueError, match='not a readable edge-net checkpoint'):
        SemedaLoss(checkpoint=str(path))
    assert not marker.exists()


def test_uint8_labels_are_a_clear_error(edge_net_file):
    target = torch.zeros(1, 8, 8, dtype=torch.uint8)
    with pytest.raises(TypeError, match=r'long.*torch.uint8.*\.long\(\)'):
        SemedaLoss(checkpoint=edge_net_file)(torch.randn(1, C, 8, 8), target)


def test_inputs_are_checked_while_the_loss_waits(edge_net_file):
    from mmengine.logging import MessageHub
    MessageHub.get_instance('test_semeda_waiting').update_info('iter', 0)
    loss = SemedaLoss(checkpoint=edge_net_file, start_iter=100)
    ok = torch.randint(0, C, (1, 8, 8))
    assert loss(torch.randn(1, C, 8, 8), ok) == 0
    with pytest.raises(ValueError, match=f'{C + 1} classes but'):
        loss(torch.randn(1, C + 1, 8, 8), ok)
    # the label range at the first call (one sync, then none)
    with pytest.raises(ValueError, match='ignore_index=255, got'):
        SemedaLoss(checkpoint=edge_net_file, start_iter=100)(
            torch.randn(1, C, 8, 8), torch.full((1, 8, 8), 7))


def test_an_unfrozen_edge_net_gets_no_gradient():
    net = SemedaEdgeNet(C)  # trainable, as built
    logits = torch.randn(1, C, 8, 8, requires_grad=True)
    semeda_loss(logits, torch.randint(0, C, (1, 8, 8)), net).backward()
    assert logits.grad is not None and logits.grad.abs().sum() > 0
    assert all(p.grad is None for p in net.parameters())
    assert all(p.requires_grad for p in net.parameters())  # left as it was


def test_start_iter_follows_the_runner_iteration(edge_net_file):
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('test_semeda_schedule')
    torch.manual_seed(7)
    target = torch.randint(0, C, (1, 12, 12))
    logits = torch.randn(1, C, 12, 12, requires_grad=True)
    loss = SemedaLoss(checkpoint=edge_net_file, start_iter=10)
    full = SemedaLoss(checkpoint=edge_net_file)(logits, target)
    assert full > 0
    got = {}
    for it in (0, 9, 10, 100):
        hub.update_info('iter', it)
        got[it] = loss(logits, target)
    assert got[0] == 0 and got[9] == 0 and not got[9].requires_grad
    torch.testing.assert_close(got[10], full)
    torch.testing.assert_close(got[100], full)
    assert loss(logits, target, reduction_override='none').shape == (1, 12,
                                                                      12)
    hub.update_info('iter', 0)
    assert loss(logits, target, reduction_override='none').abs().sum() == 0
    loss.eval()  # outside training: always on
    torch.testing.assert_close(loss(logits, target), full)


def _logits_with_accuracy(target, acc, seed=0):
    """Logits whose argmax equals ``target`` on the first ``acc`` share of
    the pixels (row-major) and is wrong elsewhere."""
    g = torch.Generator().manual_seed(seed)
    n = target.numel()
    pred = target.flatten().clone()
    wrong = torch.arange(n) >= round(acc * n)
    pred[wrong] = (pred[wrong] + 1) % C
    logits = torch.randn(n, C, generator=g)
    logits[torch.arange(n), pred] += 10
    return logits.view(*target.shape, C).permute(0, 3, 1, 2).contiguous()


def test_auto_start_switches_on_once_the_running_accuracy_is_reached(
        edge_net_file, monkeypatch):
    from mmengine import logging as mm_logging
    from mmengine.logging import MessageHub
    logged = []
    monkeypatch.setattr(mm_logging, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    hub = MessageHub.get_instance('test_semeda_auto')
    target = torch.randint(0, C, (2, 10, 10),
                           generator=torch.Generator().manual_seed(1))
    poor, good = (_logits_with_accuracy(target, a) for a in (0.5, 0.95))
    loss = SemedaLoss(checkpoint=edge_net_file, start_acc=0.8)  # 'auto'
    full = SemedaLoss(checkpoint=edge_net_file, start_iter=0)
    key = 'semeda_switch/loss_semeda'
    hub.update_info('iter', 0)
    assert loss(poor, target) == 0
    # each call's counts are read at the next call (no sync): kept until
    # then, in the MessageHub too (a checkpoint carries them)
    state = hub.get_info(key)
    assert not state['on'] and 'acc' not in state
    assert state['pending'].tolist() == [100.0, 200.0]
    # running mean: 0.5 -> 0.545 -> 0.5855 -> ... reaches 0.8 with the 11th
    # good batch (0.95 - 0.45 * 0.9 ** k >= 0.8), read at the call after it
    ons = []
    for it in range(1, 14):
        hub.update_info('iter', it)
        ons.append(bool(loss(good, target) > 0))
        if it == 1:
            assert hub.get_info(key)['acc'] == 0.5
    assert ons == [False] * 11 + [True] * 2
    state = hub.get_info(key)
    assert state['on'] and state['iter'] == 12
    assert state['acc'] == pytest.approx(0.95 - 0.45 * 0.9 ** 11)
    assert len(logged) == 1 and 'switched on at iteration 12' in logged[0]
    # on for good, even for poor predictions, at the full value
    torch.testing.assert_close(loss(poor, target), full(poor, target))
    # --resume: a new hub restored from the saved state stays on
    resumed = MessageHub.get_instance('test_semeda_auto_resumed')
    resumed.load_state_dict(hub.state_dict())
    resumed.update_info('iter', 14)  # the Runner's next iteration
    assert SemedaLoss(checkpoint=edge_net_file, start_iter='auto')(
        poor, target) > 0
    # --resume between a call and the next: the pending counts come back
    # from the checkpoint
    fresh = MessageHub.get_instance('test_semeda_auto_pending')
    fresh.update_info('iter', 0)
    first = SemedaLoss(checkpoint=edge_net_file)
    assert first(good, target) == 0
    restored = MessageHub.get_instance('test_semeda_auto_pending_resumed')
    restored.load_state_dict(fresh.state_dict())
    restored.update_info('iter', 1)
    SemedaLoss(checkpoint=edge_net_file)(good, target)
    assert restored.get_info(key)['acc'] == 0.95
    # a model that already segments (load_from): on at the second call
    loaded = MessageHub.get_instance('test_semeda_auto_loaded')
    again = SemedaLoss(checkpoint=edge_net_file, start_iter='auto')
    for it in range(2):
        loaded.update_info('iter', it)
        assert bool(again(good, target) > 0) == bool(it)
    assert len(logged) == 3


def test_layer_terms_and_band_share_go_to_the_message_hub(edge_net_file):
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('test_semeda_diagnostics')
    target = square_label(24)
    target[:, :2] = 255
    logits = torch.randn(1, C, 24, 24, generator=torch.Generator()
                         .manual_seed(3))
    loss = SemedaLoss(checkpoint=edge_net_file,  # lambda (4, 2, 0), band 3
                      start_iter=0)
    loss(logits, target)  # outside a Runner: nothing logged
    assert 'train/semeda/layer1' not in hub.log_scalars
    hub.update_info('iter', 0)
    total = loss(logits, target)
    # read without a sync at the next call
    assert 'train/semeda/layer1' not in hub.log_scalars
    hub.update_info('iter', 1)
    loss(logits, target)
    layers = [hub.get_scalar(f'train/semeda/layer{i}').current()
              for i in (1, 2)]
    assert 'train/semeda/layer3' not in hub.log_scalars  # lambda_3 = 0
    assert sum(layers) == pytest.approx(float(total), rel=1e-5)
    assert min(layers) > 0
    from mmseg_semeda.evaluation.functional import boundary_bands
    band = boundary_bands(target[0], [3])[3]
    valid = target[0] != 255
    assert hub.get_scalar('train/semeda/band_share').current() == \
        pytest.approx(float((band & valid).sum() / valid.sum()))
    loss.eval()
    loss(logits, target)  # outside training: not logged again
    assert len(hub.get_scalar('train/semeda/layer1').data[0]) == 1


def test_auto_start_ignores_ignore_pixels(edge_net_file):
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('test_semeda_auto_ignore')
    hub.update_info('iter', 0)
    target = torch.randint(0, C, (1, 10, 10),
                           generator=torch.Generator().manual_seed(2))
    logits = _logits_with_accuracy(target, 0.5)
    target[:, 5:] = 255  # exactly the wrong half
    loss = SemedaLoss(checkpoint=edge_net_file, start_iter='auto',
                      start_acc=0.99)
    assert loss(logits, target) == 0
    hub.update_info('iter', 1)
    assert loss(logits, target) > 0
    assert hub.get_info('semeda_switch/loss_semeda')['acc'] == 1.0


def test_auto_start_switches_on_at_the_latest_share_of_max_iters(
        edge_net_file, monkeypatch):
    """Where the accuracy stays below start_acc, 'auto' switches on at
    start_latest * max_iters, by default half of them (and says why);
    outside a Runner it is on."""
    from mmengine import logging as mm_logging
    from mmengine.logging import MessageHub
    logged = []
    monkeypatch.setattr(mm_logging, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    target = torch.randint(0, C, (2, 10, 10),
                           generator=torch.Generator().manual_seed(1))
    poor = _logits_with_accuracy(target, 0.5)
    hub = MessageHub.get_instance('test_semeda_auto_latest')
    hub.update_info('max_iters', 50)
    loss = SemedaLoss(checkpoint=edge_net_file)  # start_latest=0.5
    never = SemedaLoss(checkpoint=edge_net_file, start_latest=None,
                       loss_name='loss_never')
    ons, nevers = [], []
    for it in range(27):
        hub.update_info('iter', it)
        ons.append(bool(loss(poor, target) > 0))
        nevers.append(bool(never(poor, target) > 0))
    assert ons == [False] * 25 + [True] * 2 and not any(nevers)
    assert len(logged) == 1 and '50% of max_iters=50' in logged[0]
    MessageHub.get_instance('test_semeda_no_runner')  # no 'iter': no Runner
    assert SemedaLoss(checkpoint=edge_net_file)(poor, target) > 0


@pytest.mark.parametrize('kwargs, match', [
    (dict(start_latest=1.5), r'start_latest must be in \[0, 1\]'),
    (dict(start_iter=-1), "int >= 0 or 'auto'"),
    (dict(start_iter=2.5), "int >= 0 or 'auto'"),
    (dict(start_iter='late'), "int >= 0 or 'auto'"),
    (dict(start_acc=0), r'start_acc must be in \(0, 1\]'),
    (dict(band_width=0), 'band_width must be an int'),
])
def test_bad_settings(edge_net_file, kwargs, match):
    with pytest.raises(ValueError, match=match):
        SemedaLoss(checkpoint=edge_net_file, **kwargs)


def test_band_width_keeps_only_pixels_near_ground_truth_edges(
        trained_edge_net):
    torch.manual_seed(8)
    target = square_label()
    logits = torch.randn(1, C, 32, 32)
    full = semeda_loss(logits, target, trained_edge_net, reduction='none')
    band = semeda_loss(logits, target, trained_edge_net, reduction='none',
                       band_width=2)
    from mmseg_semeda import semantic_edges
    near = torch.nn.functional.max_pool2d(
        semantic_edges(target)[:, None].float(), 3, 1, 1)[:, 0] > 0
    torch.testing.assert_close(band[near], full[near])
    assert (band[~near] == 0).all() and (full[~near] > 0).all()
    # the mean still divides by every valid pixel
    torch.testing.assert_close(
        semeda_loss(logits, target, trained_edge_net, band_width=2),
        band.sum() / target.numel())
    with pytest.raises(ValueError, match='band_width'):
        semeda_loss(logits, target, trained_edge_net, band_width=0)


def test_paper_layer_weights_by_name(edge_net_file):
    assert SemedaLoss(checkpoint=edge_net_file,
                      layer_weights='voc').layer_weights == (2.0, 4.0, 0.0)
    assert SemedaLoss(checkpoint=edge_net_file, layer_weights='cityscapes'
                      ).layer_weights == (4.0, 2.0, 0.0)
    with pytest.raises(ValueError, match="names: \\['cityscapes', 'voc'\\]"):
        SemedaLoss(checkpoint=edge_net_file, layer_weights='ade')
    with pytest.raises(ValueError, match='3 non-negative numbers'):
        SemedaLoss(checkpoint=edge_net_file, layer_weights=(1, -1, 0))


@pytest.mark.parametrize('num_classes, embed', [(4, None), (150, None),
                                                (150, 32)])
def test_backward_keeps_only_what_it_needs(num_classes, embed):
    """Saved for backward: the padded masked softmax (C channels; with a
    class embedding, the logits and the mask instead, to recompute it), the
    padded ReLU of layer 1 for layer 2's input, the signs of the two
    layers' differences (16 + 32 channels, int8), two single-channel maps,
    and the frozen convolutions' weights; no layer input kept whole besides
    (nor the class embedding's output)."""
    torch.manual_seed(0)
    net = SemedaEdgeNet(num_classes, embed_channels=embed).freeze()
    n, h, w = 2, 40, 48
    logits = torch.randn(n, num_classes, h, w, requires_grad=True)
    target = torch.randint(0, num_classes, (n, h, w))
    saved = {}

    def pack(t):
        saved[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        loss = semeda_loss(logits, target, net, (4.0, 2.0, 0.0),
                           band_width=3)
    loss.backward()
    plain, padded = n * h * w * 4, n * (h + 2) * (w + 2) * 4
    first = (num_classes * padded if embed is None else
             (num_classes + 1) * plain)
    signs = (16 + 32) * n * h * w  # int8
    maps = first + 16 * padded + signs + 2 * plain
    weights = ((embed or num_classes) * 16 + 16 * 32) * 9 * 4 + (
        embed or 0) * num_classes * 4
    assert sum(saved.values()) <= maps + weights


def test_a_binary_head_is_the_two_class_loss_of_logits_0_and_x(
        monkeypatch):
    """1-channel logits (MMSeg's binary recipe, ``out_channels=1`` with a
    sigmoid CE): SEMEDA compares (1 - p, p) with the 0/1 labels through the
    bundled 2-class net; value and gradient equal the 2-class loss of the
    logits (0, x), ignore pixels included."""
    from mmseg_semeda.pretrain import zoo
    monkeypatch.setattr(zoo, 'pretrain_default', lambda *a, **k: 1 / 0)
    torch.manual_seed(0)
    x = torch.randn(2, 1, 24, 24, requires_grad=True)
    label = (torch.rand(2, 24, 24) > 0.5).long()
    label[:, :3] = 255
    binary = SemedaLoss(start_iter=0)
    two = SemedaLoss(start_iter=0)
    loss = binary(x, label)
    assert binary.edge_net.num_classes == 2 and loss > 0
    (grad, ) = torch.autograd.grad(loss, x)
    x2 = x.detach().clone().requires_grad_()
    ref = two(torch.cat([torch.zeros_like(x2), x2], 1), label)
    (ref_grad, ) = torch.autograd.grad(ref, x2)
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(grad, ref_grad)
    assert grad[:, :, :3].abs().max() == 0  # nothing at ignore pixels


def test_a_binary_head_with_other_labels_is_a_clear_error_first(
        monkeypatch):
    """Labels outside {0, 1} (and ignore) under 1-channel logits raise
    before any edge net is loaded or pretrained."""
    from mmseg_semeda.pretrain import zoo
    monkeypatch.setattr(zoo, '_load_or_pretrain', lambda c: 1 / 0)
    label = torch.zeros(1, 8, 8, dtype=torch.long)
    label[0, 0, 0] = 2
    with pytest.raises(ValueError, match=r'in \[0, 2\).*binary head.*\[2\]'):
        SemedaLoss()(torch.randn(1, 1, 8, 8), label)
    label = torch.full((1, 8, 8), 7, dtype=torch.long)
    with pytest.raises(ValueError, match=r'in \[0, 5\).*got \[7\]'):
        SemedaLoss()(torch.randn(1, 5, 8, 8), label)


def test_two_instances_switch_and_log_on_their_own(edge_net_file,
                                                  monkeypatch):
    """Decode and auxiliary head with the same default loss_name: each keeps
    its own running accuracy, switch and log keys (the first called in an
    iteration keeps the name, the next gets a suffix _1)."""
    from mmengine import logging as mm_logging
    from mmengine.logging import MessageHub
    logged = []
    monkeypatch.setattr(mm_logging, 'print_log',
                        lambda msg, **kw: logged.append(msg))
    hub = MessageHub.get_current_instance()
    target = torch.randint(0, C, (2, 10, 10),
                           generator=torch.Generator().manual_seed(1))
    decode_logits = _logits_with_accuracy(target, 0.9)
    aux_logits = _logits_with_accuracy(target, 0.6)
    decode = SemedaLoss(checkpoint=edge_net_file, start_acc=0.8,
                        start_latest=None)
    aux = SemedaLoss(checkpoint=edge_net_file, start_acc=0.8,
                     start_latest=None)
    on = []
    for it in range(4):
        hub.update_info('iter', it)
        on.append((bool(decode(decode_logits, target) > 0),
                   bool(aux(aux_logits, target) > 0)))
    assert on == [(False, False), (True, False), (True, False),
                  (True, False)]
    assert hub.get_info('semeda_switch/loss_semeda')['on']
    aux_state = hub.get_info('semeda_switch/loss_semeda_1')
    assert not aux_state['on'] and aux_state['acc'] == pytest.approx(0.6)
    assert hub.get_scalar('train/semeda/layer1').current() > 0
    assert 'train/semeda_1/layer1' not in hub.log_scalars
    assert len(logged) == 1
    assert logged[0].startswith('loss_semeda switched on at iteration 1')
    # the auxiliary one, forced on, names itself
    aux.start_latest = 0.0
    hub.update_info('max_iters', 10)
    aux(aux_logits, target)
    assert logged[1].startswith('loss_semeda_1 switched on at iteration 3')
