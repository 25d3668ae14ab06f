"""The bundled edge nets and the CPU kernels' source ship with a
non-editable install."""
import os
import subprocess
import sys


def test_checkpoints_found_after_a_non_editable_install(tmp_path):
    repo = os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    target = tmp_path / 'site'
    subprocess.run([
        sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps',
        '--no-build-isolation', '--target', str(target), repo
    ], check=True, cwd=str(tmp_path), capture_output=True)
    code = ('import mmseg_semeda, os; '
            'from mmseg_semeda.pretrain.zoo import bundled_checkpoints; '
            'b = bundled_checkpoints(); '
            'assert os.path.dirname(mmseg_semeda.__file__).startswith('
            f'{str(target)!r}), mmseg_semeda.__file__; '
            'from mmseg_semeda.models.losses import cpu_kernels; '
            'assert os.path.isfile(cpu_kernels._SOURCE), cpu_kernels._SOURCE; '
            'print(sorted(b))')
    env = dict(os.environ, PYTHONPATH=str(target))
    out = subprocess.run([sys.executable, '-c', code], check=True, env=env,
                         cwd=str(tmp_path), capture_output=True, text=True)
    names = out.stdout.strip()
    for c in (11, 19, 21, 150):
        assert f"'edgenet_c{c}_synthetic'" in names, names
        assert f"'edgenet_c{c}_synthetic_soft'" in names, names
    assert "'edgenet_c11_camvid_soft'" in names
