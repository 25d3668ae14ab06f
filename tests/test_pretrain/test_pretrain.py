import os

import numpy as np
import pytest
import torch
from PIL import Image

from mmseg_semeda import SemedaEdgeNet, SemedaLoss
from mmseg_semeda.apis.pretrain import main
from mmseg_semeda.pretrain import (
    edge_metrics,
    pretrain_edge_net,
    voronoi_masks,
)
from mmseg_semeda.pretrain.zoo import bundled_checkpoints, default_edge_net


def _masks(n=6, size=40, num_classes=5, seed=0, void=None):
    g = torch.Generator().manual_seed(seed)
    out = voronoi_masks(n, size, num_classes, g, ignore_index=None)
    if void is not None:
        out[:, :3] = void
    return out.numpy().astype(np.uint8)


def _write(folder, masks, palette=False):
    """Write label maps as 8-bit grayscale or palette PNGs."""
    os.makedirs(folder, exist_ok=True)
    for i, m in enumerate(masks):
        img = Image.fromarray(m)
        if palette:
            img = img.convert('P')  # keeps the values as palette indices
            img.putpalette([v for i in range(256) for v in (i, 255 - i, 7)])
        img.save(os.path.join(folder, f'{i:03d}.png'))


def test_voronoi_masks_are_deterministic_and_varied():
    a = voronoi_masks(4, 32, 7, torch.Generator().manual_seed(3))
    b = voronoi_masks(4, 32, 7, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.shape == (4, 32, 32)
    assert len(torch.unique(a)) > 3
    assert a.max() <= 255 and a[a != 255].max() < 7


def test_pretrained_net_finds_edges_and_is_deterministic():
    a = pretrain_edge_net(5, iters=150, batch_size=8, crop=48, seed=1)
    b = pretrain_edge_net(5, iters=150, batch_size=8, crop=48, seed=1)
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    val = [torch.from_numpy(m).long() for m in _masks(4, 64, 5, seed=9)]
    m = edge_metrics(a, val, 255)
    assert m['f1'] > 0.9, m
    untrained = edge_metrics(SemedaEdgeNet(5), val, 255)
    assert untrained['f1'] < m['f1']


@pytest.mark.parametrize('palette', [False, True])
def test_tool_end_to_end_on_png_folders(tmp_path, palette):
    _write(tmp_path / 'train', _masks(8, 40, 5, seed=0, void=9), palette=palette)
    _write(tmp_path / 'val', _masks(3, 40, 5, seed=1, void=9), palette=palette)
    out = tmp_path / 'net.pth'
    meta = main(['--ann-dir', str(tmp_path / 'train'), '--val-dir',
                 str(tmp_path / 'val'), '--label-map', '9:255', '--iters',
                 '60', '--crop', '32', '--batch-size', '4', '--quiet',
                 '--out', str(out)])
    assert meta['edge_f1'] > 0.5
    net = SemedaEdgeNet.from_checkpoint(str(out))
    assert net.num_classes == 5  # inferred: void mapped to 255
    for key in ('trained_on', 'edge_precision', 'edge_recall', 'edge_f1',
                'edge_f1_soft', 'seconds', 'ignore_index', 'version'):
        assert key in net.meta, key
    assert [p.name for p in tmp_path.iterdir() if p.suffix == '.pth'] == [
        'net.pth']


def test_tool_sets_the_hidden_widths(tmp_path):
    out = tmp_path / 'wide.pth'
    main(['--synthetic', '--num-classes', '7', '--channels', '24', '8',
          '--iters', '5', '--crop', '24', '--batch-size', '2', '--quiet',
          '--out', str(out)])
    net = SemedaEdgeNet.from_checkpoint(str(out))
    assert net.channels == (24, 8) and net.conv1.out_channels == 24
    assert net.embed_channels is None


def test_tool_sets_the_class_embedding(tmp_path):
    out = tmp_path / 'embedded.pth'
    main(['--synthetic', '--num-classes', '40', '--embed-channels', '8',
          '--iters', '5', '--crop', '24', '--batch-size', '2', '--quiet',
          '--out', str(out)])
    net = SemedaEdgeNet.from_checkpoint(str(out))
    assert net.embed_channels == 8 and net.conv1.in_channels == 8
    assert net.embed.weight.shape == (8, 40, 1, 1)


def test_tool_with_held_out_fraction_16bit_and_reduce_zero_label(tmp_path):
    folder = tmp_path / 'ann'
    folder.mkdir()
    for i, m in enumerate(_masks(10, 32, 4, seed=2)):
        Image.fromarray(m.astype(np.uint16) + 1).save(folder / f'{i}.png')
    out = tmp_path / 'n.pth'
    meta = main(['--ann-dir', str(folder / '*.png'), '--reduce-zero-label',
                 '--num-classes', '4', '--val-fraction', '0.2', '--iters',
                 '20', '--crop', '32', '--batch-size', '2', '--quiet',
                 '--out', str(out)])
    assert '2 held-out' in meta['val']
    assert SemedaEdgeNet.from_checkpoint(str(out)).num_classes == 4


def test_tool_synthetic(tmp_path, capsys):
    out = tmp_path / 's.pth'
    meta = main(['--synthetic', '--num-classes', '3', '--iters', '30',
                 '--crop', '32', '--batch-size', '4', '--quiet', '--out',
                 str(out)])
    assert 'synthetic' in meta['trained_on'] and out.is_file()
    assert 'F1' in capsys.readouterr().out
    assert meta['soft_prob'] == 0.5  # the tool's default: soft nets
    onehot = main(['--synthetic', '--num-classes', '3', '--iters', '5',
                   '--crop', '32', '--batch-size', '2', '--quiet',
                   '--soft-prob', '0', '--out', str(tmp_path / 'o.pth')])
    assert onehot['soft_prob'] == 0.0


def test_bad_inputs(tmp_path):
    empty = tmp_path / 'empty'
    empty.mkdir()
    out = str(tmp_path / 'x.pth')
    with pytest.raises(FileNotFoundError, match='no .png label maps'):
        main(['--ann-dir', str(empty), '--out', out])
    with pytest.raises(FileNotFoundError, match='no such directory'):
        main(['--ann-dir', str(tmp_path / 'missing'), '--out', out])
    # Non-image files are not PNGs: ignored; corrupt PNGs: skipped, counted.
    mixed = tmp_path / 'mixed'
    mixed.mkdir()
    (mixed / 'notes.txt').write_text('hello')
    (mixed / 'broken.png').write_bytes(b'\x89PNG\r\n\x1a\n garbage')
    with pytest.raises(ValueError, match='none of the 1 files.*1 skipped'):
        main(['--ann-dir', str(mixed), '--out', out])
    _write(mixed, _masks(4, 32, 3, seed=3))
    meta = main(['--ann-dir', str(mixed), '--num-classes', '3', '--iters',
                 '5', '--crop', '32', '--batch-size', '2', '--quiet',
                 '--val-fraction', '0.25', '--out', out])
    # 4 readable maps, a quarter held out for the metrics, written out
    assert '1 held-out label maps' in meta['val'] and os.path.isfile(out)
    assert SemedaEdgeNet.from_checkpoint(out).meta['edge_f1'] == meta[
        'edge_f1']
    out = str(tmp_path / 'not_written.pth')  # the failures below write none
    # RGB colour-coded masks.
    rgb = tmp_path / 'rgb'
    rgb.mkdir()
    Image.fromarray(np.stack([_masks(1, 16)[0] * 40, np.zeros((16, 16),
                                                              np.uint8),
                              np.full((16, 16), 200, np.uint8)], -1)).save(
                                  rgb / 'a.png')
    with pytest.raises(ValueError, match='RGB colour-coded'):
        main(['--ann-dir', str(rgb), '--out', out])
    # Labels >= C.
    with pytest.raises(ValueError, match=r'outside \[0, 2\)'):
        main(['--ann-dir', str(mixed), '--num-classes', '2', '--out', out])
    with pytest.raises(ValueError, match='SRC:DST'):
        main(['--ann-dir', str(mixed), '--label-map', '11-255', '--out', out])
    assert not os.path.exists(out)


def test_pretraining_and_loading_leave_the_callers_random_streams_alone(
        tmp_path):
    torch.manual_seed(123)
    expected = torch.rand(5)
    torch.manual_seed(123)
    net = pretrain_edge_net(3, iters=3, batch_size=2, crop=16, seed=0,
                            soft_prob=0.5)
    torch.testing.assert_close(torch.rand(5), expected, rtol=0, atol=0)
    path = net.save(str(tmp_path / 'n.pth'))
    torch.manual_seed(123)
    SemedaEdgeNet.from_checkpoint(path)
    default_edge_net(21)  # bundled
    default_edge_net(3)  # pretrained on the fly, then cached
    default_edge_net(3)
    torch.testing.assert_close(torch.rand(5), expected, rtol=0, atol=0)


def test_bundled_checkpoints_load_with_metadata():
    bundled = bundled_checkpoints()
    for c in (11, 19, 21, 150):
        for kind in ('synthetic', 'synthetic_soft'):
            assert f'edgenet_c{c}_{kind}' in bundled, sorted(bundled)
    assert {'edgenet_c11_camvid', 'edgenet_c11_camvid_soft'} <= set(bundled)
    for name, path in bundled.items():
        assert os.path.getsize(path) < 400_000, (name, os.path.getsize(path))
        net = SemedaEdgeNet.from_checkpoint(path)
        for key in ('trained_on', 'edge_f1', 'ignore_index', 'version'):
            assert key in net.meta, (name, key)
    loss = SemedaLoss(checkpoint='edgenet_c11_camvid')
    assert loss.num_classes == 11
    # the 150-class default: one-hot edge F1 >= 0.99, through a class
    # embedding (docs/edge_nets.md)
    c150 = SemedaEdgeNet.from_checkpoint(bundled['edgenet_c150_synthetic_soft'])
    assert c150.embed_channels == 32 and c150.meta['edge_f1'] >= 0.99


def test_zero_config_uses_the_bundled_soft_net_for_known_counts():
    net = default_edge_net(21)
    bundled = SemedaEdgeNet.from_checkpoint(
        bundled_checkpoints()['edgenet_c21_synthetic_soft'])
    assert bundled.meta['soft_prob'] == 0.5
    for k, v in bundled.state_dict().items():
        assert torch.equal(net.state_dict()[k], v)


def test_fallback_settings_follow_the_class_count():
    from mmseg_semeda.pretrain.zoo import FALLBACK_SETTINGS, fallback_settings
    few, some, many = (fallback_settings(c) for c in (16, 32, 33))
    assert (few['iters'], few['embed_channels']) == (1500, None)
    assert (some['iters'], some['embed_channels']) == (6000, None)
    assert (many['iters'], many['embed_channels']) == (12000, 32)
    assert few['soft_prob'] == many['soft_prob'] == FALLBACK_SETTINGS[
        'soft_prob'] > 0


#: The class counts of the data sets MMSeg 1.2.2 ships (its DATASETS'
#: METAINFO, checked against the registry in the test below), and this
#: package's CamVid (11) and Stanford Background (8).
MMSEG_CLASS_COUNTS = (2, 3, 6, 7, 8, 9, 11, 16, 19, 20, 21, 27, 59, 60, 66,
                      124, 150, 171)
#: Bundled nets short of the 0.99 goal on a mask set, held to the lowest F1
#: they measured (docs/edge_nets.md, docs/results/edge_nets/below_goal).
SHORT_OF_GOAL = {171: 0.9805}


def test_every_mmseg_data_set_has_a_bundled_net(monkeypatch):
    """No data set MMSeg ships waits for pretraining: each class count of
    its registered data sets resolves to a bundled net, one-hot edge F1 >=
    0.99 on the three synthetic mask sets (but the nets short of it, held to
    what they measured), <= 100 KB."""
    import mmseg.datasets  # noqa: F401  (registers them)
    from mmseg.registry import DATASETS

    from mmseg_semeda.pretrain import zoo
    counts = {}
    for name, cls in DATASETS.module_dict.items():
        classes = getattr(cls, 'METAINFO', {}).get('classes')
        if classes and cls.__module__.startswith('mmseg.'):
            counts.setdefault(len(classes), []).append(name)
    assert set(counts) <= set(MMSEG_CLASS_COUNTS), counts
    monkeypatch.setattr(zoo, 'pretrain_default', lambda *a, **k: 1 / 0)
    bundled = bundled_checkpoints()
    for c in sorted(set(counts) | set(MMSEG_CLASS_COUNTS)):
        assert f'edgenet_c{c}_synthetic_soft' in bundled, (c, counts.get(c))
        path = bundled[f'edgenet_c{c}_synthetic_soft']
        assert os.path.getsize(path) <= 100 * 1024, (c, os.path.getsize(path))
        net = default_edge_net(c)
        assert net.num_classes == c
        assert len(net.meta['edge_f1_sets']) == 3, c
        assert min(net.meta['edge_f1_sets'].values()) >= SHORT_OF_GOAL.get(
            c, 0.99), c


@pytest.mark.parametrize('num_classes, embed', [(5, None), (40, 32)])
def test_zero_config_pretrains_once_then_reuses_the_cache(
        monkeypatch, num_classes, embed):
    from mmengine.logging import MMLogger

    from mmseg_semeda.pretrain import zoo
    real = zoo.fallback_settings
    monkeypatch.setattr(zoo, 'fallback_settings',
                        lambda c: dict(real(c), iters=20))
    monkeypatch.setattr(zoo, 'LOG_INTERVAL', 5)
    lines = []
    logger = MMLogger.get_instance(f'semeda_test_{num_classes}')
    monkeypatch.setattr(logger, 'log',
                        lambda level, msg, *a, **k: lines.append(msg))
    monkeypatch.setattr(MMLogger, 'get_current_instance',
                        classmethod(lambda cls: logger))
    loss = SemedaLoss()
    c = num_classes
    with pytest.warns(UserWarning, match='below 0.99') as record:
        loss(torch.randn(1, c, 16, 16), torch.randint(0, c, (1, 16, 16)))
    assert loss.edge_net.embed_channels == embed
    # the training log says what happens, how far it is and where it went
    text = '\n'.join(lines)
    assert f'no bundled edge net for {c} classes' in text
    assert 'pretrain_edgenet.py' in text
    for step in (5, 10, 15):
        assert f'step {step}/20' in text and 'ETA' in text, text
    assert f'pretrained the {c}-class edge net in' in text
    assert zoo._fallback_path(c) in text
    # 20 steps find few edges: the user is told, with the measured F1
    f1 = loss.edge_net.meta['edge_f1']
    assert f1 < 0.99 and len(loss.edge_net.meta['edge_f1_sets']) == 3
    assert any(f'F1 {f1:.3f} (below 0.99)' in str(w.message) for w in record)
    calls = []
    monkeypatch.setattr(zoo, 'pretrain_edge_net',
                        lambda *a, **k: calls.append(1))
    again = SemedaLoss()
    again(torch.randn(1, c, 16, 16), torch.randint(0, c, (1, 16, 16)))
    assert calls == []
    for k, v in loss.edge_net.state_dict().items():
        assert torch.equal(again.edge_net.state_dict()[k], v)
    assert loss.edge_net.meta['soft_prob'] == zoo.FALLBACK_SETTINGS[
        'soft_prob'] > 0
    assert loss.edge_net.meta['iters'] == 20


def _pretrain_worker(rank, cache, out_dir):
    """A DDP-like rank without a process group: zero-config for 5 classes
    with a tiny recipe, counting its own pretrainings."""
    os.environ['MMSEG_SEMEDA_CACHE'] = cache
    from mmseg_semeda.pretrain import zoo
    real_settings, real_pretrain = zoo.fallback_settings, zoo.pretrain_default
    zoo.fallback_settings = lambda c: dict(real_settings(c), iters=30)

    def counted(*a, **k):
        open(os.path.join(out_dir, f'pretrained_by_{rank}'), 'w').close()
        return real_pretrain(*a, **k)

    zoo.pretrain_default = counted
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        net = zoo.default_edge_net(5)
    torch.save(net.state_dict(), os.path.join(out_dir, f'rank{rank}.pth'))


def test_ranks_pretrain_once_per_machine_without_a_collective(tmp_path):
    """Two processes ask for the same uncached net at once: one pretrains,
    the other waits on the cache's file lock (no collective, so no NCCL
    timeout) and loads the same weights."""
    import torch.multiprocessing as mp
    cache = str(tmp_path / 'cache')
    mp.spawn(_pretrain_worker, args=(cache, str(tmp_path)), nprocs=2)
    assert len(list(tmp_path.glob('pretrained_by_*'))) == 1
    got = [torch.load(tmp_path / f'rank{r}.pth') for r in (0, 1)]
    for k, v in got[0].items():
        torch.testing.assert_close(got[1][k], v, rtol=0, atol=0)
