#!/usr/bin/env bash
# Creates (or refreshes) the development environment in .venv/ at the repository root:
# torch 2.13.0 CPU, mmengine 0.10.7, mmcv 2.1.0 compiled with its ops, mmdet 3.3.0, lvis,
# faster-coco-eval, this package (editable) and its dev tools (pytest, build, twine, openmim).
# Safe to re-run: finished steps are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=.venv
PIP="$VENV/bin/python -m pip --disable-pip-version-check -q"

if [ ! -x "$VENV/bin/python" ]; then
    echo "[setup] creating $VENV"
    "$PY" -m venv "$VENV"
fi
# setuptools < 81 keeps pkg_resources (mmdet resolves `mmdet::` configs with it); torch wants >= 77.
$PIP install 'setuptools>=77.0.3,<81' wheel

have() { "$VENV/bin/python" -c "$1" >/dev/null 2>&1; }

if ! have "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')"; then
    echo "[setup] installing torch 2.13.0 (CPU)"
    $PIP install torch==2.13.0
fi
$PIP install mmengine==0.10.7
if ! have "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '2.1.0')"; then
    echo "[setup] building mmcv 2.1.0 with its compiled ops (about 20 minutes on 2 cores the first time; pip caches the wheel)"
    MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-2} $PIP install --no-build-isolation mmcv==2.1.0
fi
echo "[setup] installing mmdet 3.3.0 and mmdet-droploss (editable, with its dev tools: pytest, build, twine, openmim)"
# The editable install also links configs/, tools/ and model-index.yml into mmdet_droploss/.mim/
# (setup.py), where `mmdet_droploss::` configs and `mim` look for them.
$PIP install --no-build-isolation -e '.[dev]' 'mmdet==3.3.0'
"$VENV/bin/python" -c "import mmcv.ops, mmdet, mmdet_droploss; print('[setup] ok: mmcv', mmcv.__version__, '| mmdet', mmdet.__version__, '| mmdet_droploss', mmdet_droploss.__version__)"
