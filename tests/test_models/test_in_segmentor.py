"""SemedaLoss and SobelEdgeLoss inside a stock DeepLabV3+ decode head."""
import pytest
import torch
from conftest import build_deeplab, fake_batch
from mmengine.registry import init_default_scope


@pytest.fixture(autouse=True)
def _scope():
    init_default_scope('mmseg')


def _build(loss_decode, num_classes=4):
    torch.manual_seed(0)
    return build_deeplab(num_classes, loss_decode)


def test_semeda_next_to_cross_entropy_in_deeplabv3plus(edge_net_file):
    model = _build([
        dict(type='CrossEntropyLoss', loss_weight=1.0),
        dict(type='SemedaLoss', checkpoint=edge_net_file),
    ])
    inputs, samples = fake_batch(4)
    losses = model.loss(inputs, samples)
    assert {'decode.loss_ce', 'decode.loss_semeda'} <= set(losses)
    assert losses['decode.loss_semeda'] > 0
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    head = model.decode_head.conv_seg.weight
    assert head.grad is not None and head.grad.abs().sum() > 0
    # The edge net is not part of the segmentor.
    assert not any('edge_net' in k or 'conv3' in k and 'loss' in k
                   for k in model.state_dict())
    n_params = sum(p.numel() for p in model.parameters())
    plain = _build([dict(type='CrossEntropyLoss', loss_weight=1.0)])
    assert n_params == sum(p.numel() for p in plain.parameters())
    missing, unexpected = plain.load_state_dict(model.state_dict())
    assert not missing and not unexpected


def test_semeda_alone_trains_the_head_and_the_backbone(edge_net_file):
    """The SEMEDA term by itself carries gradient into the whole network (a
    term computed without a graph, or detached, would leave none)."""
    model = _build([
        dict(type='CrossEntropyLoss', loss_weight=1.0),
        dict(type='SemedaLoss', checkpoint=edge_net_file, band_width=None),
    ])
    losses = model.loss(*fake_batch(4))
    semeda = losses['decode.loss_semeda']
    assert semeda > 0 and semeda.requires_grad
    semeda.backward()
    for name, param in (('head', model.decode_head.conv_seg.weight),
                        ('backbone', model.backbone.stem[0].weight
                         if hasattr(model.backbone, 'stem') else
                         model.backbone.conv1.weight)):
        assert param.grad is not None, name
        assert param.grad.abs().sum() > 0, name


def test_sobel_next_to_cross_entropy(edge_net_file):
    model = _build([
        dict(type='CrossEntropyLoss', loss_weight=1.0),
        dict(type='SobelEdgeLoss', loss_weight=1.0),
    ])
    losses = model.loss(*fake_batch(4))
    assert {'decode.loss_ce', 'decode.loss_sobel'} <= set(losses)


def test_zero_config_semeda_in_deeplabv3plus():
    model = _build([
        dict(type='CrossEntropyLoss', loss_weight=1.0),
        dict(type='SemedaLoss'),
    ], num_classes=11)
    losses = model.loss(*fake_batch(11))
    assert torch.isfinite(losses['decode.loss_semeda'])
    net = model.decode_head.loss_decode[1].edge_net
    assert net is not None and net.num_classes == 11
