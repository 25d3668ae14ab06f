import glob
import os.path as osp

import numpy as np
import pytest
from PIL import Image
from train_helpers import tiny_config


def _train(tmp_path, root, extra, iters=4):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(tiny_config(tmp_path, root, iters=iters,
                                      extra=extra))
    cfg.work_dir = str(tmp_path / 'wd')
    # a visualizer of its own (MMEngine keeps one instance per name in a
    # process, with the save_dir of the Runner that made it)
    cfg.visualizer.name = f'visualizer_{tmp_path.name}'
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


def test_visualization_hook_draws_where_semeda_acts(tmp_path, shapes_root):
    """Every 2 iterations of 4: image | ground truth | prediction | the
    per-pixel loss, written by the local visualizer backend."""
    runner = _train(tmp_path, shapes_root, '''
custom_hooks = [dict(type='SemedaVisualizationHook', interval=2)]
''')
    files = sorted(glob.glob(osp.join(runner.log_dir, 'vis_data',
                                      'vis_image', 'semeda_*.png')))
    assert [osp.basename(f) for f in files] == ['semeda_2.png',
                                                'semeda_4.png']
    picture = np.asarray(Image.open(files[-1]))
    # 64 px crops, enlarged 3x (nearest) under an 18 px title strip
    assert picture.shape == (18 + 3 * 64, 4 * 3 * 64, 3)
    heat = picture[18:, 3 * 3 * 64:]
    assert heat.std() > 0  # the loss is not flat: it acts near edges


def test_visualization_hook_needs_a_semeda_loss(tmp_path, shapes_root):
    from mmengine.config import Config
    from mmengine.runner import Runner
    cfg = Config.fromfile(tiny_config(
        tmp_path, shapes_root,
        extra="custom_hooks = [dict(type='SemedaVisualizationHook')]"))
    cfg.model.decode_head.loss_decode = [dict(type='CrossEntropyLoss')]
    cfg.work_dir = str(tmp_path / 'wd')
    with pytest.raises(ValueError, match='no SemedaLoss'):
        Runner.from_cfg(cfg).train()


def test_visualization_hook_is_idle_between_its_iterations(tmp_path,
                                                           shapes_root):
    """At other iterations it registers nothing on the loss."""
    from mmseg_semeda.engine import SemedaVisualizationHook
    from mmseg_semeda.models.losses import SemedaLoss

    class Run:
        iter = 0

    hook = SemedaVisualizationHook(interval=10)
    hook._loss = SemedaLoss()
    for it in range(9):
        Run.iter = it
        hook.before_train_iter(Run, it)
        assert not hook._loss._forward_pre_hooks
        hook.after_train_iter(Run, it)
    Run.iter = 9
    hook.before_train_iter(Run, 9)
    assert len(hook._loss._forward_pre_hooks) == 1
    with pytest.raises(ValueError, match='interval'):
        SemedaVisualizationHook(interval=0)
