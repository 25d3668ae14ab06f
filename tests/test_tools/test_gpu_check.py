"""tools/device/gpu_loss_check.py, tried on the CPU (``--device cpu``) so
that a GPU session's few minutes are not lost to a Python error in it."""
import importlib.util
import json
import os.path as osp

from train_helpers import REPO


def test_gpu_check_runs_through_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv('MMSEG_SEMEDA_CPU_KERNELS', '0')  # the GPU's path
    spec = importlib.util.spec_from_file_location(
        'gpu_loss_check', osp.join(REPO, 'tools', 'device',
                                   'gpu_loss_check.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / 'check.json'
    module.main(['--device', 'cpu', '--classes', '8', '--batches', '1', '2',
                 '--size', '32', '--steps', '2', '--json', str(out)])
    results = json.loads(out.read_text())
    assert results[0]['device'].startswith('cpu')
    assert [(r['num_classes'], r['batch']) for r in results[1:]] == [
        (8, 1), (8, 2)]
    for r in results[1:]:
        for name in ('ce', 'ce_semeda'):
            assert r[name]['ms'] > 0
            assert r[name]['deterministic'] == 'ok'
        assert r['ratio_ms'] > 0
