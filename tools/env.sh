#!/usr/bin/env bash
# Run a command inside the project's virtual environment (.venv in the repo root), creating it or
# installing what is missing first. Idempotent: a stamp of the inputs skips pip when nothing changed.
#
#   tools/env.sh python tools/main_job.py
#   tools/env.sh python -m pytest tests
#   HGNET_STACK=oldest tools/env.sh python -m pytest ...   # .venv-oldest: torch 2.1, mmcv-lite
#
# mmcv 2.1.0 has no wheel for torch 2.14 on PyPI, so it is built from its sdist (30-50 min on 2 cores)
# and the wheel is kept in $HGNET_CACHE_DIR (default ~/.cache/hgnet_backbones), keyed by torch version
# and Python, so the next set-up takes seconds. A pre-built wheel found through PIP_FIND_LINKS is used
# only if its compiled ops load against the installed torch.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY_BOOT=${HGNET_PYTHON:-python3.11}
CACHE_DIR=${HGNET_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hgnet_backbones}
EXTRAS=${HGNET_EXTRAS:-tests,deploy,docs,demo}
STACK=${HGNET_STACK:-pinned}
case "$STACK" in
    pinned) VENV="$ROOT/.venv" CONSTRAINTS="$ROOT/tools/constraints.txt" ;;
    # the oldest supported stack: the import, weights, parity, model and hook tests run on it
    oldest) VENV="$ROOT/.venv-oldest" CONSTRAINTS="$ROOT/tools/constraints-oldest.txt" ;;
    *) printf '[env.sh] HGNET_STACK=%s: expected pinned or oldest\n' "$STACK" >&2; exit 2 ;;
esac
STAMP="$VENV/.hgnet-setup-stamp"

log() { printf '[env.sh] %s\n' "$*" >&2; }

pin() {  # the pinned version of a package in constraints.txt
    sed -n "s/^$1==\(.*\)$/\1/p" "$CONSTRAINTS"
}

stamp_value() {
    cat "$CONSTRAINTS" "$ROOT/setup.cfg" "$ROOT/tools/requirements-reference.txt" "${BASH_SOURCE[0]}" | sha256sum | cut -d' ' -f1
    echo "extras=$EXTRAS stack=$STACK"
}

mmcv_ops_load() {
    "$VENV/bin/python" - <<'PY' >/dev/null 2>&1
import torch
from mmcv.ops import nms
boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.]])
keep = nms(boxes, torch.tensor([0.9, 0.8]), 0.5)[1]
assert keep.tolist() == [0]
PY
}

build_mmcv_wheel() (  # $1: version, $2: output folder. A subshell: its EXIT trap removes the work
    # folder (a RETURN trap would stay set and fire again, without $work, when later functions return)
    version=$1 out=$2
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    log "building mmcv $version with its ops from the sdist (30-50 min on 2 cores); the wheel goes to $out"
    "$VENV/bin/pip" download -q --no-deps --no-binary :all: --no-build-isolation -d "$work" "mmcv==$version"
    tar -xzf "$work"/mmcv-"$version".tar.gz -C "$work"
    # torch >= 2.10's headers need C++20; mmcv 2.1.0's setup.py asks for C++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$work/mmcv-$version/setup.py"
    (cd "$work/mmcv-$version" && MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        "$VENV/bin/pip" wheel -q --no-build-isolation --no-deps -w "$work/dist" .)
    mkdir -p "$out"
    whl=$(ls "$work"/dist/mmcv-"$version"-*.whl)
    cp "$whl" "$out/.tmp-$(basename "$whl")"
    mv "$out/.tmp-$(basename "$whl")" "$out/$(basename "$whl")"
)

install_mmcv() {
    local version torch_version pytag wheels
    version=$(pin mmcv)
    torch_version=$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')
    pytag=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
    wheels="$CACHE_DIR/wheels/mmcv-$version/torch-$torch_version-$pytag-$(uname -m)"
    if "$VENV/bin/pip" show -q mmcv >/dev/null 2>&1 && mmcv_ops_load; then
        return
    fi
    # --only-binary: never let pip itself try the sdist (it cannot build mmcv's ops in isolation).
    local pip=("$VENV/bin/pip" install -q -c "$CONSTRAINTS" --only-binary mmcv --find-links "$wheels")
    if "${pip[@]}" "mmcv==$version" 2>/dev/null && mmcv_ops_load; then
        log "mmcv $version from a pre-built wheel"
        return
    fi
    "$VENV/bin/pip" uninstall -q -y mmcv >/dev/null 2>&1 || true
    build_mmcv_wheel "$version" "$wheels"
    "${pip[@]}" --no-index --no-deps "mmcv==$version"
    "${pip[@]}" "mmcv==$version"
    mmcv_ops_load || { log "mmcv's compiled ops do not load after the build"; exit 1; }
}

create_venv() {
    if [ ! -x "$VENV/bin/python" ]; then
        command -v "$PY_BOOT" >/dev/null || { log "$PY_BOOT not found (set HGNET_PYTHON)"; exit 1; }
        log "creating $VENV"
        "$PY_BOOT" -m venv "$VENV"
    fi
    "$VENV/bin/pip" install -q -c "$CONSTRAINTS" --upgrade pip
}

setup_oldest_venv() {  # torch, mmengine and mmcv-lite only: what `import hgnet_backbones` needs
    create_venv
    "$VENV/bin/pip" install -q -c "$CONSTRAINTS" torch numpy mmengine mmcv-lite opencv-python \
        setuptools pytest safetensors filelock
    "$VENV/bin/pip" install -q --no-deps -e "$ROOT"
    stamp_value > "$STAMP"
}

setup_venv() {
    create_venv
    local pip=("$VENV/bin/pip" install -q -c "$CONSTRAINTS")
    "${pip[@]}" torch torchvision setuptools wheel ninja
    install_mmcv
    # mmsegmentation imports ftfy and regex without declaring them.
    "${pip[@]}" mmengine mmcv mmdet mmsegmentation mmpretrain ftfy regex -e "$ROOT[$EXTRAS]"
    if [[ ",$EXTRAS," == *,deploy,* ]]; then
        # without its protobuf<=3.20.2 pin, which current onnx cannot use; the deploy extra has the rest
        "${pip[@]}" --no-deps mmdeploy
    fi
    if [[ ",$EXTRAS," == *,tests,* ]]; then
        # the D-FINE reference, apart from the venv's own transformers (see the file's comment)
        "$VENV/bin/pip" install -q --upgrade --no-deps --target "$VENV/reference-transformers" \
            -r "$ROOT/tools/requirements-reference.txt"
    fi
    stamp_value > "$STAMP"
}

all_present() {  # cheap: finds the top-level modules without importing them
    "$VENV/bin/python" - "$STACK" <<'PY' 2>/dev/null
import importlib.util, sys
modules = ('torch', 'mmengine', 'mmcv', 'pytest', 'hgnet_backbones')
if sys.argv[1] == 'pinned':
    modules += ('torchvision', 'mmdet', 'mmseg', 'mmpretrain', 'ftfy', 'regex')
sys.exit(any(importlib.util.find_spec(m) is None for m in modules))
PY
}

if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$(stamp_value)" ] || ! all_present; then
    if [ "$STACK" = oldest ]; then setup_oldest_venv; else setup_venv; fi
fi

[ $# -gt 0 ] || exit 0
export PATH="$VENV/bin:$PATH" VIRTUAL_ENV="$VENV"
exec "$@"
