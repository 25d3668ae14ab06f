"""The installed stack: mmseg imports with mmcv ops, stock configs build, and
MMEngine checkpoints resume under torch's weights_only loading."""
import os

import pytest
import torch
import torch.nn as nn
from conftest import build_deeplab, fake_batch
from torch.utils.data import Dataset

import mmseg_semeda


def test_imports_and_registries():
    import mmcv.ops  # noqa: F401  (mmseg.models needs the compiled ops)
    import mmseg.models  # noqa: F401
    from mmseg.registry import MODELS
    for name in ('SemedaLoss', 'SobelEdgeLoss', 'SemedaEdgeNet'):
        assert MODELS.get(name) is not None, name
    assert isinstance(mmseg_semeda.__version__, str)


def test_stock_deeplabv3plus_builds_from_mmseg_config_and_trains_a_step():
    model = build_deeplab(num_classes=4)
    inputs, samples = fake_batch(4)
    losses = model.loss(inputs, samples)
    assert {'decode.loss_ce', 'aux.loss_ce'} <= set(losses)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    total.backward()
    opt.step()
    assert torch.isfinite(total)




def _toy_runner(work_dir, max_iters, resume=False):
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    class ToyModel(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(2, 1)

        def forward(self, inputs, labels, mode='tensor'):
            out = self.linear(inputs)
            if mode == 'loss':
                return dict(loss=((out - labels)**2).mean())
            return out

    class ToyData(Dataset):

        def __len__(self):
            return 8

        def __getitem__(self, i):
            g = torch.Generator().manual_seed(i)
            return dict(inputs=torch.randn(2, generator=g),
                        labels=torch.randn(1, generator=g))

    return Runner(
        model=ToyModel(), work_dir=str(work_dir),
        train_dataloader=dict(dataset=ToyData(), batch_size=2,
                              sampler=dict(type='DefaultSampler',
                                           shuffle=False),
                              collate_fn=dict(type='default_collate')),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        train_cfg=dict(by_epoch=False, max_iters=max_iters),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=2,
                                           by_epoch=False)),
        resume=resume, randomness=dict(seed=0), default_scope='mmengine',
        log_level='WARNING', experiment_name=f'toy{max_iters}{resume}')


def test_runner_checkpoint_resumes_under_weights_only(tmp_path, monkeypatch):
    monkeypatch.delenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', raising=False)
    monkeypatch.delenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', raising=False)
    _toy_runner(tmp_path, 2).train()
    ckpt = tmp_path / 'iter_2.pth'
    assert ckpt.is_file()
    # Without the package's allow-list the default loader refuses the file;
    # this is the failure the package fixes.
    saved = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        with pytest.raises(Exception, match='weights_only|Unsupported global'):
            torch.load(ckpt)
    finally:
        torch.serialization.add_safe_globals(saved)
    assert mmseg_semeda.compat.register_safe_globals()
    torch.load(ckpt)  # loads with the default weights_only=True
    runner = _toy_runner(tmp_path, 4, resume=True)
    runner.train()
    assert runner.iter == 4
    assert os.path.isfile(tmp_path / 'iter_4.pth')


class _Sneaky:
    """Pickles as getattr(HistoryBuffer, '_statistics_methods')."""

    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, '_statistics_methods'))


def test_allowed_getattr_is_restricted(tmp_path):
    import pickle

    from mmengine.logging import HistoryBuffer

    from mmseg_semeda.compat import _restricted_getattr
    assert _restricted_getattr(HistoryBuffer, 'min') is HistoryBuffer.min
    with pytest.raises(pickle.UnpicklingError, match='not allowed'):
        _restricted_getattr(os, 'system')
    path = tmp_path / 'sneaky.pth'
    torch.save({'x': _Sneaky()}, path)
    with pytest.raises(pickle.UnpicklingError, match='not allowed'):
        torch.load(path)
