#!/usr/bin/env bash
# Create or refresh the project-local environment (.venv) with the tested
# OpenMMLab set and mmattn in editable mode. Idempotent: when nothing that
# decides the environment changed since the last successful run, it only
# checks that the key imports work (a few seconds).
#
# Environment variables:
#   PYTHON            interpreter for a new venv (default: python3)
#   VENV              environment folder (default: .venv)
#   MMATTN_CACHE_DIR  where the compiled mmcv wheel is kept between clones
#                     (default: ${XDG_CACHE_HOME:-$HOME/.cache}/mmattn)
#   MAX_JOBS          parallel compile jobs for mmcv (default: nproc)
set -euo pipefail

cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
CACHE_DIR=${MMATTN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mmattn}
TORCH_VERSION=2.13.0
MMCV_VERSION=2.1.0

log() { printf '[setup] %s\n' "$*"; }

# Everything that decides what gets installed; a change re-runs the install.
stamp_inputs=(requirements/pinned.txt requirements/runtime.txt requirements/mim.txt setup.py tools/setup_env.sh)
want_stamp=$(cat "${stamp_inputs[@]}" | sha256sum | cut -d' ' -f1)
stamp_file="$VENV/.mmattn-setup-stamp"

check_imports() {
    [[ -x "$VENV/bin/mim" ]] || return 1
    "$VENV/bin/python" - <<'EOF'
import mmcv, mmcv.ops, mmdet, mmengine, mmseg, pycocotools, torch
assert mmcv.__version__ == '2.1.0', mmcv.__version__
import mmattn
import warnings
warnings.simplefilter('ignore')  # mim imports pkg_resources, which warns
import mim
EOF
}

if [[ -x "$VENV/bin/python" && -f "$stamp_file" && "$(cat "$stamp_file")" == "$want_stamp" ]]; then
    if check_imports 2>/dev/null; then
        log "environment $VENV is up to date"
        exit 0
    fi
    log "environment $VENV is stale or broken; repairing"
fi

if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating virtual environment $VENV with $($PYTHON --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip install --disable-pip-version-check --progress-bar off)

# torch first (a CPU build of 2.13.0 is what is tested), and a setuptools
# that still ships pkg_resources, which mmcv's setup.py imports.
log "installing torch==$TORCH_VERSION and build tools"
"${PIP[@]}" -q "torch==$TORCH_VERSION" "setuptools>=77,<81" wheel

# mmcv 2.1.0 has no wheel for this torch: compile it with its CPU ops once
# and keep the wheel outside the clone, keyed by what its ABI depends on.
py_tag=$("$PY" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
torch_tag=$("$PY" -c 'import torch; print(torch.__version__.replace("+", "_"))')
wheel_dir="$CACHE_DIR/wheels/mmcv-$MMCV_VERSION-torch$torch_tag-$py_tag-$(uname -m)"
if ! "$PY" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
    mkdir -p "$wheel_dir"
    if ! compgen -G "$wheel_dir/mmcv-$MMCV_VERSION-*.whl" >/dev/null; then
        log "compiling mmcv==$MMCV_VERSION with CPU ops (about 10 minutes on 2 cores, once per machine)"
        MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
            "$PY" -m pip wheel --disable-pip-version-check --no-build-isolation --no-deps \
            -w "$wheel_dir.partial" "mmcv==$MMCV_VERSION"
        mv "$wheel_dir.partial"/mmcv-"$MMCV_VERSION"-*.whl "$wheel_dir"/
        rmdir "$wheel_dir.partial" 2>/dev/null || true
    else
        log "using cached mmcv wheel from $wheel_dir"
    fi
    "${PIP[@]}" -q --no-deps "$wheel_dir"/mmcv-"$MMCV_VERSION"-*.whl
fi

log "installing the pinned OpenMMLab set (requirements/pinned.txt)"
"${PIP[@]}" -q -r requirements/pinned.txt

# openmim without opendatalab/openxlab, which would downgrade the pinned set;
# the file lists every package mim imports (see its header).
log "installing mim (requirements/mim.txt, --no-deps)"
"${PIP[@]}" -q --no-deps -r requirements/mim.txt

# setup.py links mmattn/.mim/{configs,tools,model-index.yml} for mim here.
log "installing mmattn in editable mode"
"${PIP[@]}" -q --no-deps --no-build-isolation -e .

check_imports
echo "$want_stamp" > "$stamp_file"
log "environment $VENV is ready: $("$PY" -c 'import mmattn, mmcv, mmdet, mmseg, torch; print(f"mmattn {mmattn.__version__}, torch {torch.__version__}, mmcv {mmcv.__version__}, mmdet {mmdet.__version__}, mmseg {mmseg.__version__}")')"
