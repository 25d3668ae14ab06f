import copy

import pytest
import torch

from mmseg_semeda import SemedaEdgeNet, SemedaLoss, semeda_loss
from mmseg_semeda.models.losses.semeda_loss import relu_l1
from mmseg_semeda.pretrain import onehot_inputs

C = 4


def square_label(size=32, shift=0, hole=False):
    label = torch.zeros(1, size, size, dtype=torch.long)
    label[:, 8 + shift:24 + shift, 8:24] = 2
    label[:, :, 28:] = 3
    if hole:
        label[:, 14:18, 14:18] = 0
    return label


def confident_logits(label, scale=20.0):
    return onehot_inputs(label, C, 255) * scale


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


def test_fused_relu_l1_equals_the_plain_expression():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 9, 11, dtype=torch.float64, requires_grad=True)
    target = torch.rand(2, 16, 9, 11, dtype=torch.float64)
    target[:, :3] = 0  # zero targets where x <= 0: no gradient there
    assert torch.autograd.gradcheck(lambda v: relu_l1(v, target), (x, ))
    fused = relu_l1(x, target)
    plain = (x.relu() - target).abs().mean(dim=1)
    torch.testing.assert_close(fused, plain)
    w = torch.randn_like(fused)
    g_fused, = torch.autograd.grad((fused * w).sum(), x)
    g_plain, = torch.autograd.grad((plain * w).sum(), x)
    torch.testing.assert_close(g_fused, g_plain)


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
    # and the float32 loss has the same gradient direction
    x32 = logits.detach().float().requires_grad_(True)
    semeda_loss(x32, target, trained_edge_net, layer_weights=(2, 4, 1),
                reduction='sum').backward()
    x64 = logits.detach().clone().requires_grad_(True)
    fn(x64).backward()
    cos = torch.nn.functional.cosine_similarity(x32.grad.flatten().double(),
                                                x64.grad.flatten(), dim=0)
    assert cos > 0.999


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
                        loss_weight=0.5, band_width=None)
    expected = 0.5 * semeda_loss(logits, target, trained_edge_net, (1, 2, 3))
    torch.testing.assert_close(module(logits, target), expected)
    assert module.loss_name == 'loss_semeda'


def test_module_defaults_are_the_measured_form(edge_net_file,
                                               trained_edge_net):
    """SemedaLoss() = 2 x the function with band 3 and lambda (4, 2, 0); the
    function itself keeps the paper's defaults (every pixel)."""
    torch.manual_seed(15)
    target = torch.randint(0, C, (2, 16, 16))
    logits = torch.randn(2, C, 16, 16)
    module = SemedaLoss(checkpoint=edge_net_file)
    assert (module.layer_weights, module.band_width, module.loss_weight) == (
        (4.0, 2.0, 0.0), 3, 2.0)
    expected = 2.0 * semeda_loss(logits, target, trained_edge_net,
                                 (4.0, 2.0, 0.0), band_width=3)
    torch.testing.assert_close(module(logits, target), expected)
    paper = SemedaLoss(checkpoint=edge_net_file, layer_weights='voc',
                       band_width=None, loss_weight=1.0)
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


def test_bf16_autocast_is_finite_and_close_to_fp32(edge_net_file):
    torch.manual_seed(6)
    loss = SemedaLoss(checkpoint=edge_net_file)
    target = torch.randint(0, C, (2, 16, 16))
    logits = torch.randn(2, C, 16, 16)
    ref = loss(logits, target)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = loss(logits.bfloat16(), target)
    assert got.dtype == torch.float32 and torch.isfinite(got)
    torch.testing.assert_close(got, ref, rtol=2e-2, atol=1e-3)


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


def test_linear_embedding_is_the_l1_of_pre_activations(trained_edge_net):
    torch.manual_seed(6)
    target = torch.randint(0, C, (1, 10, 10))
    target[0, 0] = 255
    logits = torch.randn(1, C, 10, 10, requires_grad=True)
    got = semeda_loss(logits, target, trained_edge_net, (1, 2, 0),
                      embedding='linear')
    valid = (target != 255).float()
    probs = logits.softmax(1) * valid.unsqueeze(1)
    onehot = onehot_inputs(target, C, 255)
    net = trained_edge_net
    ref = 0
    for lam, p, g in zip((1, 2), net.pre_activations(probs, 2),
                         net.pre_activations(onehot, 2)):
        ref = ref + lam * (p - g).abs().mean(1)
    ref = (ref * valid).sum() / valid.sum()
    torch.testing.assert_close(got, ref)
    assert got != semeda_loss(logits, target, net, (1, 2, 0))
    with pytest.raises(ValueError, match="embedding must be one of"):
        semeda_loss(logits, target, net, embedding='pre')


def test_start_iter_and_ramp_follow_the_runner_iteration(edge_net_file):
    from mmengine.logging import MessageHub
    hub = MessageHub.get_instance('test_semeda_schedule')
    torch.manual_seed(7)
    target = torch.randint(0, C, (1, 12, 12))
    logits = torch.randn(1, C, 12, 12, requires_grad=True)
    loss = SemedaLoss(checkpoint=edge_net_file, start_iter=10, ramp_iters=4)
    full = SemedaLoss(checkpoint=edge_net_file)(logits, target)
    got = {}
    for it in (0, 9, 10, 11, 13, 100):
        hub.update_info('iter', it)
        got[it] = loss(logits, target)
    assert got[0] == 0 and got[9] == 0 and not got[9].requires_grad
    torch.testing.assert_close(got[10], full * 0.25)
    torch.testing.assert_close(got[11], full * 0.5)
    torch.testing.assert_close(got[13], full)
    torch.testing.assert_close(got[100], full)
    assert loss(logits, target, reduction_override='none').shape == (1, 12,
                                                                      12)
    hub.update_info('iter', 0)
    assert loss(logits, target, reduction_override='none').abs().sum() == 0
    loss.eval()  # outside training: the full weight
    torch.testing.assert_close(loss(logits, target), full)


@pytest.mark.parametrize('kwargs, match', [
    (dict(start_iter=-1), 'non-negative ints'),
    (dict(ramp_iters=2.5), 'non-negative ints'),
    (dict(embedding='pre'), 'embedding must be one of'),
    (dict(band_width=0), 'band_width must be an int'),
    (dict(pool=1.5), 'pool must be an int'),
])
def test_bad_schedule_and_embedding(edge_net_file, kwargs, match):
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


def test_pooled_matching_compares_cell_means(trained_edge_net):
    torch.manual_seed(9)
    target = square_label()
    logits = torch.randn(1, C, 32, 32, requires_grad=True)
    net = trained_edge_net
    got = semeda_loss(logits, target, net, (1, 2, 0), pool=4)
    probs = logits.softmax(1)
    onehot = onehot_inputs(target, C, 255)
    ref = 0
    for lam, p, g in zip((1, 2), net(probs, 2), net(onehot, 2)):
        cells = torch.nn.functional.avg_pool2d(p - g, 4)
        ref = ref + lam * cells.abs().mean(1)
    torch.testing.assert_close(got, ref.mean())
    got.backward()
    assert logits.grad.abs().sum() > 0
    # a prediction shifted by one pixel costs less when matched by cells
    shifted = confident_logits(square_label(shift=1))
    assert (semeda_loss(shifted, target, net, (1, 2, 0), pool=4) <
            semeda_loss(shifted, target, net, (1, 2, 0)))
    with pytest.raises(ValueError, match='pool'):
        semeda_loss(logits, target, net, pool=0)


def test_paper_layer_weights_by_name(edge_net_file):
    assert SemedaLoss(checkpoint=edge_net_file,
                      layer_weights='voc').layer_weights == (2.0, 4.0, 0.0)
    assert SemedaLoss(checkpoint=edge_net_file, layer_weights='cityscapes'
                      ).layer_weights == (4.0, 2.0, 0.0)
    with pytest.raises(ValueError, match="names: \\['cityscapes', 'voc'\\]"):
        SemedaLoss(checkpoint=edge_net_file, layer_weights='ade')
    with pytest.raises(ValueError, match='3 non-negative numbers'):
        SemedaLoss(checkpoint=edge_net_file, layer_weights=(1, -1, 0))
