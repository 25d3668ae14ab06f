#!/usr/bin/env bash
# Run HERE (a machine with pip's package index): fill .device/ (git-ignored)
# with what tools/device/camvid_gpu.sh needs on a GPU machine that has Python
# 3.12 and torch but no index: the cp312 wheels of the OpenMMLab stack, the
# mmcv 2.1.0 source (its ops must be built against that machine's torch) and
# a copy of CamVid. Then call the device with carry=[".device"].
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA=${DATA:-../shared/data/camvid}
PY=${PY:-python3}
mkdir -p .device/whl .device/sdist
plat=()
for p in manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
         manylinux1_x86_64; do plat+=(--platform "$p"); done
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${plat[@]}" -d .device/whl \
    mmengine==0.10.7 mmsegmentation==1.2.2 addict yapf termcolor prettytable \
    "setuptools<81" \
    ftfy wcwidth platformdirs
# the sdist's metadata runs its setup.py, which imports torch and pkg_resources:
# with the project's venv (torch, setuptools<81), not an isolated build env
BUILD_PY=${BUILD_PY:-.venv/bin/python}
"$BUILD_PY" -m pip download -q --no-deps --no-binary=:all: --no-build-isolation \
    -d .device/sdist mmcv==2.1.0
if [ -d "$DATA/images" ]; then
    rm -rf .device/camvid && cp -r "$DATA" .device/camvid
else
    echo "no CamVid at $DATA (set DATA=...): only the benchmark will run" >&2
fi
du -sh .device
