#!/usr/bin/env bash
# Idempotent installer for DNAS Workbench (Debian/Ubuntu; root or sudo for apt).
#
#   bash scripts/install.sh            # from any directory
#
# 1. Debian packages: graphviz (the `dot` binary), dataset-fashion-mnist (lesson 05), chromium + chromium-driver
#    (headless browser for the test suite), gcc (the native CPU kernels). Skipped when dpkg already has them,
#    so re-runs need no network. Set DNAS_SKIP_APT=1 to skip this step.
# 2. A virtualenv in .venv (reused when present).
# 3. the exact CPU wheel `torch==2.13.0` first (the file pip finds on this machine's disk;
#    pyproject.toml asks only for a torch range, which it then satisfies without a download),
#    then `pip install -e '.[widgets,lab,datasets,export,ray,dev]'` (the engine and every extra) into it;
#    skipped when the stamp in .venv/ matches pyproject.toml, so re-runs take a second or two.
#    DNAS_FORCE_PIP=1 forces it.
# 4. Builds the native CPU kernels (workbench/native/kernels.c, ~1 s) into ~/.cache/dnas-workbench, so the first
#    search does not; without a compiler the engine falls back to ATen's convolutions, a warning says so.
#
# Progress goes to stderr; the full pip/apt output goes to log files.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
STAMP="$VENV/.dnas-install-stamp"
PIP_LOG="$VENV/install-pip.log"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="torch==2.13.0"              # the CPU wheel; installed before the package's torch range
EXTRAS="widgets,lab,datasets,export,ray,dev"       # every extra of pyproject.toml
# dataset-fashion-mnist: Fashion-MNIST for lesson 05 and its test; gcc: builds workbench/native's kernels (step 4)
APT_PKGS=(graphviz chromium chromium-driver dataset-fashion-mnist gcc)

log() { printf '[install] %s\n' "$*" >&2; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }
show_log() {  # tail of a log, minus pip's noisy "Location ... ignored" lines
    grep -v "^WARNING: Location '" "$1" | tail -n 40 >&2 || true
}

# Serialise concurrent runs (e.g. test.sh and demo.sh started together).
if command -v flock >/dev/null 2>&1; then
    lock_id="$(printf '%s' "$ROOT" | cksum | cut -d' ' -f1)"
    exec 9>"${TMPDIR:-/tmp}/dnas-workbench-install-$lock_id.lock"
    if ! flock -n 9; then
        log "another install is running for $ROOT; waiting for it ..."
        flock 9
    fi
fi

# ---------------------------------------------------------------- 1. apt
missing=()
if command -v dpkg >/dev/null 2>&1; then
    for p in "${APT_PKGS[@]}"; do
        status="$(dpkg -s "$p" 2>/dev/null || true)"  # no pipe: avoids SIGPIPE under pipefail
        [[ "$status" == *"Status: install ok installed"* ]] || missing+=("$p")
    done
fi

if [[ "${DNAS_SKIP_APT:-0}" == 1 ]]; then
    log "DNAS_SKIP_APT=1: not checking Debian packages (${APT_PKGS[*]})"
elif ! command -v apt-get >/dev/null 2>&1; then
    log "WARNING: no apt-get here; install Graphviz ('dot') and Chromium yourself"
elif ((${#missing[@]} == 0)); then
    log "Debian packages already installed: ${APT_PKGS[*]}"
else
    SUDO=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 \
            || die "need root or sudo to apt-get install ${missing[*]} (or set DNAS_SKIP_APT=1)"
        SUDO=(sudo env DEBIAN_FRONTEND=noninteractive)
    fi
    apt_log="$(mktemp "${TMPDIR:-/tmp}/dnas-install-apt.XXXXXX")"
    log "apt-get installing: ${missing[*]} (log: $apt_log) ..."
    t0=$SECONDS
    export DEBIAN_FRONTEND=noninteractive
    if ! { "${SUDO[@]}" apt-get update -qq \
            && "${SUDO[@]}" apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}"; \
         } >"$apt_log" 2>&1; then
        show_log "$apt_log"
        die "apt-get failed (full log: $apt_log)"
    fi
    rm -f "$apt_log"
    log "apt packages installed in $((SECONDS - t0)) s"
fi

# ---------------------------------------------------------------- 2. venv
if [[ ! -x "$VENV/bin/python" ]]; then
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$PYTHON is $("$PYTHON" -V 2>&1); Python >= 3.11 is required (set PYTHON=...)"
    log "creating virtualenv $VENV with $("$PYTHON" -V 2>&1) ..."
    "$PYTHON" -m venv "$VENV"
else
    "$VENV/bin/python" -c 'pass' 2>/dev/null \
        || die "$VENV exists but its python does not run; remove it (rm -rf .venv) and re-run"
    log "reusing virtualenv $VENV ($("$VENV/bin/python" -V 2>&1))"
fi

# ---------------------------------------------------------------- 3. pip
# The stamp covers pyproject.toml, this checkout's path (editable installs point
# at it), the venv's Python version, and which top-level packages exist: the
# editable finder maps only packages that had an __init__.py at install time.
want_stamp="$("$VENV/bin/python" - "$ROOT" "$TORCH_SPEC" "$EXTRAS" <<'EOF'
import hashlib, pathlib, sys
root = pathlib.Path(sys.argv[1])
h = hashlib.sha256(root.joinpath("pyproject.toml").read_bytes())
h.update(f"\0{root}\0{sys.version}\0{sys.argv[2]}\0{sys.argv[3]}".encode())
for pkg in ("workbench", "widgets"):
    h.update(f"\0{pkg}={root.joinpath(pkg, '__init__.py').is_file()}".encode())
print(h.hexdigest())
EOF
)"

if [[ "${DNAS_FORCE_PIP:-0}" != 1 && -f "$STAMP" && "$(cat "$STAMP")" == "$want_stamp" ]] \
   && "$VENV/bin/python" -c 'import importlib.metadata as m; m.version("dnas-workbench")' 2>/dev/null; then
    log "Python packages up to date (pyproject.toml unchanged); skipping pip"
else
    log "pip install $TORCH_SPEC, then -e '.[$EXTRAS]' into .venv (log: $PIP_LOG); a fresh venv takes ~2 min ..."
    t0=$SECONDS
    rm -f "$STAMP"
    if ! { "$VENV/bin/python" -m pip install --disable-pip-version-check "$TORCH_SPEC" \
            && "$VENV/bin/python" -m pip install --disable-pip-version-check -e ".[$EXTRAS]"; } \
            >"$PIP_LOG" 2>&1; then
        show_log "$PIP_LOG"
        die "pip install failed (full log: $PIP_LOG)"
    fi
    # Guard against a CUDA torch or torchvision sneaking in through some dependency.
    "$VENV/bin/python" - <<'EOF' >&2 || die "unexpected torch install (see above)"
import importlib.metadata as m, sys
v = m.version("torch")
bad = [d for d in ("torchvision", "torchaudio") if any(
    (x.metadata["Name"] or "").lower() == d for x in m.distributions())]
if not v.startswith("2.13.0") or bad:
    print(f"[install] ERROR: torch=={v}, extra: {bad}; expected torch 2.13.0 (CPU) only")
    sys.exit(1)
EOF
    printf '%s\n' "$want_stamp" >"$STAMP"
    log "Python packages installed in $((SECONDS - t0)) s"
fi

# ---------------------------------------------------------------- 4. native kernels
if "$VENV/bin/python" -c 'import sys; from workbench import native; sys.exit(not native.available())' 2>/dev/null; then
    log "native CPU kernels built (or found in the cache)"
else
    log "WARNING: native CPU kernels unavailable (no working C compiler?): searches use ATen's slower convolutions"
fi

log "done: activate with 'source .venv/bin/activate' (or call .venv/bin/python directly)"
