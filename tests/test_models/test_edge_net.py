import pytest
import torch

from mmseg_semeda import SemedaEdgeNet
from mmseg_semeda.edges import onehot


@pytest.mark.parametrize('num_classes, ignore_index, embed', [
    (3, 255, None), (21, 255, None), (150, None, None), (5, 0, None),
    (150, 255, 32), (6, 255, 4)])
@pytest.mark.parametrize('kernel_size', [3, 5])
@pytest.mark.parametrize('blocks', [1, 5])
def test_label_gather_equals_onehot_convolution(num_classes, ignore_index,
                                                embed, kernel_size, blocks):
    """Random labels (every pixel near a change) and blocks of 5 x 5 pixels
    (mostly uniform receptive fields: the table rows) give the convolution's
    embeddings, borders included, with or without a class embedding."""
    torch.manual_seed(0)
    net = SemedaEdgeNet(num_classes, kernel_size=kernel_size,
                        embed_channels=embed)
    label = torch.randint(0, num_classes, (2, 13, 17))
    label = label.repeat_interleave(blocks, 1).repeat_interleave(blocks, 2)
    if ignore_index is not None:
        label[:, 3:6, 4:9] = ignore_index
    hot = onehot(label, num_classes, ignore_index)
    with torch.no_grad():
        ref = net(hot) + net.pre_activations(hot)
        got = (net.forward_labels(label, ignore_index) +
               net.pre_activations_labels(label, ignore_index))
    for r, g in zip(ref, got):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-5)
    # the caller's labels are left as they were, in any integer type
    for kept in (label.clone(), label.int()):
        before = kept.clone()
        with torch.no_grad():
            same = net.pre_activations_labels(kept, ignore_index)[0]
        assert torch.equal(kept, before)
        torch.testing.assert_close(same, got[3])


@pytest.mark.parametrize('kernel_size', [3, 5])
@pytest.mark.parametrize('size', [(1, 1), (3, 4), (5, 5), (9, 14)])
def test_valid_convolution_of_the_padded_buffer_equals_the_layer(
        kernel_size, size):
    """The loss's path (the map in a channels-last buffer, its frame filled
    by replication, a frozen convolution without padding) gives the values
    and input gradients of the replicate-padded layer in float64, on maps
    down to 1 x 1."""
    from mmseg_semeda.models.edge_net import fill_border_, padded_buffer
    torch.manual_seed(0)
    net = SemedaEdgeNet(6, kernel_size=kernel_size).double()
    pad = kernel_size // 2
    x = torch.randn(2, 6, *size, dtype=torch.float64)
    x_ref = x.clone().requires_grad_(True)
    want = net.layer(0, x_ref)
    net.freeze()
    x_got = x.clone().requires_grad_(True)
    buf, inner = padded_buffer(x, x.shape, pad)
    inner.copy_(x_got)
    got = net.layer(0, fill_border_(buf, pad), padded=True)
    assert buf.is_contiguous(memory_format=torch.channels_last)
    grad = torch.randn_like(want)
    want.backward(grad)
    got.backward(grad)
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(x_got.grad, x_ref.grad, rtol=1e-12,
                               atol=1e-12)


def test_num_layers_cuts_the_output():
    net = SemedaEdgeNet(4)
    probs = torch.rand(1, 4, 8, 8).softmax(1)
    assert len(net(probs, num_layers=2)) == 2
    assert len(net.forward_labels(torch.zeros(1, 8, 8, dtype=torch.long),
                                  num_layers=1)) == 1
    with pytest.raises(ValueError, match='num_layers'):
        net(probs, num_layers=4)


def test_last_embedding_is_a_softmax_and_edges_match_it():
    net = SemedaEdgeNet(4)
    probs = torch.rand(2, 4, 8, 8).softmax(1)
    last = net(probs)[2]
    torch.testing.assert_close(last.sum(1), torch.ones(2, 8, 8))
    torch.testing.assert_close(net.predict_edges(probs), last[:, 1])


def test_replicate_padding_gives_no_border_response_on_constant_input():
    net = SemedaEdgeNet(3)
    probs = torch.zeros(1, 3, 6, 6)
    probs[:, 1] = 1
    e = net(probs)[0]
    assert torch.allclose(e, e[..., :1, :1].expand_as(e))


def test_wrong_class_count_is_a_clear_error():
    with pytest.raises(ValueError, match=r'\(N, 4, H, W\).*\(1, 5, 8, 8\)'):
        SemedaEdgeNet(4)(torch.rand(1, 5, 8, 8))


@pytest.mark.parametrize('kwargs, match', [
    (dict(num_classes=0), 'num_classes'),
    (dict(num_classes=3, channels=(16, )), 'channels'),
    (dict(num_classes=3, kernel_size=4), 'kernel_size'),
    (dict(num_classes=3, embed_channels=0), 'embed_channels'),
    (dict(num_classes=3, embed_channels=2.5), 'embed_channels'),
])
def test_bad_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        SemedaEdgeNet(**kwargs)


def test_checkpoint_round_trip_with_metadata(tmp_path):
    net = SemedaEdgeNet(7, channels=(8, 12))
    path = str(tmp_path / 'sub' / 'net.pth')
    net.save(path, trained_on='unit test', edge_f1=0.5)
    assert [p.name for p in (tmp_path / 'sub').iterdir()] == ['net.pth']
    loaded = SemedaEdgeNet.from_checkpoint(path)
    assert (loaded.num_classes, loaded.channels) == (7, (8, 12))
    assert loaded.meta['trained_on'] == 'unit test'
    assert loaded.meta['edge_f1'] == 0.5
    assert loaded.meta['version'] == __import__('mmseg_semeda').__version__
    for k, v in net.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v)
    # weights_only loading works: the file holds plain values only.
    torch.load(path, weights_only=True)


def test_class_embedding_round_trip_and_frozen_path(tmp_path):
    """A net with a class embedding keeps it through a checkpoint, and its
    frozen path (one matrix product, written channels-last) equals the
    trainable 1 x 1 convolution in values and input gradients."""
    torch.manual_seed(0)
    net = SemedaEdgeNet(30, embed_channels=8).double()
    path = str(tmp_path / 'net.pth')
    net.save(path)
    loaded = SemedaEdgeNet.from_checkpoint(path).double().freeze()
    assert loaded.embed_channels == 8
    assert loaded.embed.weight.shape == (8, 30, 1, 1)
    x = torch.rand(2, 30, 7, 9, dtype=torch.float64, requires_grad=True)
    frozen = loaded.embed_classes(x)
    assert frozen.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(frozen, net.embed(x))
    w = torch.randn_like(frozen)
    g_frozen, = torch.autograd.grad((frozen * w).sum(), x)
    g_conv, = torch.autograd.grad((net.embed(x) * w).sum(), x)
    torch.testing.assert_close(g_frozen, g_conv)
    assert torch.autograd.gradcheck(lambda v: loaded(v)[2], (x, ))


def test_missing_checkpoint(tmp_path):
    with pytest.raises(FileNotFoundError, match='pretrain_edgenet'):
        SemedaEdgeNet.from_checkpoint(str(tmp_path / 'nope.pth'))


def test_not_an_edge_net_checkpoint(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}}, path)
    with pytest.raises(ValueError, match='not an edge-net checkpoint'):
        SemedaEdgeNet.from_checkpoint(str(path))
    junk = tmp_path / 'junk.pth'
    junk.write_bytes(b'not a torch file')
    with pytest.raises(ValueError, match='not a readable edge-net'):
        SemedaEdgeNet.from_checkpoint(str(junk))


def test_registered_in_mmseg_models():
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')  # as configs do with default_scope
    net = MODELS.build(dict(type='SemedaEdgeNet', num_classes=5))
    assert isinstance(net, SemedaEdgeNet)
