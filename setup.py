"""Install mmseg_semeda: ``pip install .`` (or ``make install`` for the whole stack)."""
import os.path as osp

from setuptools import find_packages, setup

HERE = osp.dirname(osp.abspath(__file__))


def get_version() -> str:
    scope: dict = {}
    with open(osp.join(HERE, 'mmseg_semeda', 'version.py')) as f:
        exec(f.read(), scope)
    return scope['__version__']


setup(
    name='mmseg_semeda',
    version=get_version(),
    description='SEMEDA semantic edge-aware loss for MMSegmentation 1.x',
    long_description=open(osp.join(HERE, 'README.md')).read(),
    long_description_content_type='text/markdown',
    license='Apache-2.0',
    python_requires='>=3.8',
    packages=find_packages(include=['mmseg_semeda', 'mmseg_semeda.*']) +
    ['mmseg_semeda.checkpoints', 'mmseg_semeda.configs'],
    # The bundled edge-net checkpoints and the configs live in checkpoints/
    # and configs/ at the top of the repository and are installed as
    # mmseg_semeda/checkpoints/ and mmseg_semeda/configs/ (the demo's
    # config, as MMSeg ships its own in mmseg/.mim).
    package_dir={'mmseg_semeda.checkpoints': 'checkpoints',
                 'mmseg_semeda.configs': 'configs'},
    package_data={'mmseg_semeda.checkpoints': ['*.pth'],
                  'mmseg_semeda.configs': ['**/*.py', '**/*.txt'],
                  # the CPU kernels' source, built on first use
                  'mmseg_semeda.models.losses.cpu_kernels': ['csrc/*.cpp']},
    install_requires=[
        'torch>=2.0,<3',
        'numpy>=1.22,<3',
        'mmengine>=0.10.0,<0.11',
        'mmcv>=2.0.0rc4,<2.2.0',
        'mmsegmentation>=1.2,<1.3',
        # mmcv and `mmseg::` config paths import pkg_resources.
        'setuptools<81',
    ],
    extras_require={'tests': ['pytest>=7']},
    zip_safe=False,
)
