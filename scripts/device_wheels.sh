#!/usr/bin/env bash
# Wheels for a GPU machine that has no internet but already holds CUDA JAX, torch, numpy, numba,
# onnx, onnxruntime, matplotlib, pillow, opencv and tqdm (the sandbox's H100/H200 device image,
# Python 3.12): what the project and the Ultralytics comparison need beyond that, downloaded here
# into .whl/ (git-ignored through .git/info/exclude) to travel with the working tree.
#
#   scripts/device_wheels.sh            # then, on the GPU machine, from the repository root:
#   python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site:$PWD
#
# --no-deps: every needed package is named here. polars is the 0.20 line, one 29 MB wheel
# (Ultralytics' trainer reads its results.csv with it; the 1.x/2.x wheels are 33-55 MB and the
# working tree that travels is limited to 64 MB). A Lambda H100 instance has internet: there
# the README's `pip install -e ".[cuda]"` replaces all of this.
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qxF "/.whl/" .git/info/exclude 2>/dev/null || echo "/.whl/" >> .git/info/exclude
platforms=()
for tag in manylinux_2_35 manylinux_2_34 manylinux_2_31 manylinux_2_28 manylinux_2_27 manylinux_2_24 manylinux_2_17 manylinux2014 manylinux1; do
    platforms+=(--platform "${tag}_x86_64")
done
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --abi cp312 --abi abi3 --abi none "${platforms[@]}" -d .whl \
    pytensor==3.0.7 etuples logical-unification minikanren cons \
    pycocotools faster-coco-eval==1.8.0 \
    ultralytics==8.4.190 ultralytics-thop ultralytics-platform polars==0.20.31
ls -l .whl
du -ch .whl/*.whl | tail -1
