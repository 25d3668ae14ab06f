"""Shared fixtures: small edge nets and a tiny DeepLabV3+ built through
``mmseg::`` configs, all on the CPU."""
import copy
import os
import sys

import pytest
import torch

import mmseg_semeda  # noqa: F401  (registers the modules)
from mmseg_semeda.datasets import make_shapes_dataset

# The research tools (tools/study_losses.py, tools/benchmark_loss.py) are
# scripts, not part of the package: their tests import them from tools/.
sys.path.append(os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), 'tools'))

CAMVID = os.path.join(os.path.dirname(__file__), '..', '..', 'shared', 'data',
                      'camvid')


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Edge nets pretrained on the fly go to a temporary cache."""
    monkeypatch.setenv('MMSEG_SEMEDA_CACHE',
                       str(tmp_path_factory.getbasetemp() / 'semeda_cache'))


@pytest.fixture(autouse=True)
def _fresh_message_hub(request):
    """Each test starts with a MessageHub of its own (the current instance
    is the newest): no test sees an ``iter``, a switch state or log scalars
    that another one left."""
    from mmengine.logging import MessageHub
    MessageHub.get_instance(f'test-{request.node.nodeid}')


@pytest.fixture(scope='session')
def trained_edge_net():
    """An edge net for 4 classes, pretrained on synthetic masks (~1 s)."""
    from mmseg_semeda.pretrain import pretrain_edge_net
    net = pretrain_edge_net(4, iters=150, batch_size=8, crop=48, seed=0)
    return net.requires_grad_(False).eval()


@pytest.fixture(scope='session')
def edge_net_file(trained_edge_net, tmp_path_factory):
    path = tmp_path_factory.mktemp('edge') / 'edgenet_c4.pth'
    copy.deepcopy(trained_edge_net).save(str(path), trained_on='test')
    return str(path)


def deeplab_model_cfg(num_classes=4, loss_decode=None):
    """A stock DeepLabV3+ R18 model config from ``mmseg::``, pretrained
    weights off, small crop (SyncBN stays: build with :func:`build_deeplab`,
    which reverts it to BN as MMEngine's Runner does without a process
    group)."""
    from mmengine.hub import get_config
    cfg = get_config(
        'mmseg::deeplabv3plus/deeplabv3plus_r18-d8_4xb2-80k_cityscapes-'
        '512x1024.py')
    model = cfg.model.to_dict()
    model['pretrained'] = None
    model['backbone']['init_cfg'] = None
    model['data_preprocessor']['size'] = (64, 64)
    for head in ('decode_head', 'auxiliary_head'):
        model[head]['num_classes'] = num_classes
    if loss_decode is not None:
        model['decode_head']['loss_decode'] = loss_decode
    return model


def build_deeplab(num_classes=4, loss_decode=None):
    from mmengine.model import revert_sync_batchnorm
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS
    init_default_scope('mmseg')
    return revert_sync_batchnorm(
        MODELS.build(deeplab_model_cfg(num_classes, loss_decode)))


def fake_batch(num_classes=4, n=2, size=64, seed=0):
    """Inputs and SegDataSamples of random blobs, for model.loss()."""
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    g = torch.Generator().manual_seed(seed)
    inputs = torch.rand(n, 3, size, size, generator=g)
    samples = []
    for _ in range(n):
        label = torch.randint(0, num_classes, (1, size // 8, size // 8),
                              generator=g)
        label = label.repeat_interleave(8, 1).repeat_interleave(8, 2)
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=label)
        s.set_metainfo(dict(img_shape=(size, size), ori_shape=(size, size),
                            pad_shape=(size, size)))
        samples.append(s)
    return inputs, samples


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory):
    return make_shapes_dataset(str(tmp_path_factory.mktemp('shapes')),
                               num_train=8, num_val=2, size=64, seed=0)
