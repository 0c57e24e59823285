#!/usr/bin/env bash
# pyrnn on Linux aarch64, checked on an x86-64 machine: the C++ core cross-compiled with
# Debian's g++-aarch64-linux-gnu through this repository's CMakeLists.txt, then the
# float64-oracle parity suite (tests/layers/test_oracle_parity.py) and the packaged smoke
# test (pyrnn selftest), plus the bad-input suite, run by Debian's arm64 Python 3.11 + numpy under qemu-user.
#
# A correctness check, not a benchmark: qemu emulates the instructions, so times say
# nothing about a real ARM CPU.
#
#   .ci/aarch64_check.sh --setup   # once, as root: apt packages + an arm64 Python sysroot (~40 MB)
#   .ci/aarch64_check.sh           # build (~2-4 min on 2 cores) and run (~minutes under qemu)
#   .ci/aarch64_check.sh -k lstm   # extra arguments go to pytest
#
# PYRNN_ARM64_ROOT (default ~/.cache/pyrnn-arm64) holds the sysroot and the build.
# tests/cross/test_aarch64.py runs this script (pytest -m cross), skipping when the
# toolchain or the sysroot is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
BASE=${PYRNN_ARM64_ROOT:-$HOME/.cache/pyrnn-arm64}
ROOT=$BASE/root
PY=python3.11
CXX=${PYRNN_ARM64_CXX:-aarch64-linux-gnu-g++}

# Debian bookworm's arm64 Python, numpy and pytest/hypothesis, with what they load (arm64 packages,
# then architecture-independent ones). h5py is not needed: these suites read no HDF5 file.
ARM64_PKGS="gcc-12-base libc6 libgcc-s1 libstdc++6 libgfortran5 libgomp1 libblas3 liblapack3 libbz2-1.0 libcrypt1
  libexpat1 libffi8 liblzma5 libnsl2 libtirpc3 libgssapi-krb5-2 libk5crypto3 libkeyutils1 libkrb5-3
  libkrb5support0 libcom-err2 libsqlite3-0 libssl3 libuuid1 zlib1g libncursesw6 libtinfo6 libreadline8
  libpython3.11-minimal libpython3.11-stdlib libpython3.11 libpython3.11-dev python3.11-minimal python3.11
  libpython3-stdlib python3-minimal python3 python3-numpy"
ALL_PKGS="mailcap media-types libtirpc-common python3-attr python3-exceptiongroup python3-hypothesis
  python3-iniconfig python3-packaging python3-pluggy python3-py python3-pytest python3-sortedcontainers python3-tomli"

if [[ "${1:-}" == "--setup" ]]; then
  dpkg --print-foreign-architectures | grep -qx arm64 || dpkg --add-architecture arm64
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q g++-aarch64-linux-gnu qemu-user cmake
  mkdir -p "$BASE/debs" && cd "$BASE/debs"
  # shellcheck disable=SC2046
  apt-get download -q $(printf '%s:arm64 ' $ARM64_PKGS) $ALL_PKGS 2>&1 | grep -v "unsandboxed" || true
  want=$(echo $ARM64_PKGS $ALL_PKGS | wc -w)
  have=$(ls "$BASE"/debs/*.deb | wc -l)
  [[ $have -ge $want ]] || { echo "aarch64_check: downloaded $have of $want packages"; exit 1; }
  rm -rf "$ROOT" && mkdir -p "$ROOT"
  for d in "$BASE"/debs/*.deb; do dpkg -x "$d" "$ROOT"; done
  # What update-alternatives would have made (no maintainer scripts run in an extracted root):
  ln -sf blas/libblas.so.3 "$ROOT/usr/lib/aarch64-linux-gnu/libblas.so.3"
  ln -sf lapack/liblapack.so.3 "$ROOT/usr/lib/aarch64-linux-gnu/liblapack.so.3"
  echo "arm64 sysroot ready in $ROOT ($(du -sh "$ROOT" | cut -f1)); now run $0"
  exit 0
fi

for tool in "$CXX" qemu-aarch64 cmake; do
  command -v "$tool" >/dev/null || { echo "aarch64_check: $tool not found (run $0 --setup as root)"; exit 77; }
done
[[ -x "$ROOT/usr/bin/$PY" ]] || { echo "aarch64_check: no arm64 Python in $ROOT (run $0 --setup)"; exit 77; }

run_arm64() { qemu-aarch64 -L "$ROOT" "$ROOT/usr/bin/$PY" "$@"; }

# The build: this repository's CMakeLists.txt, cross-compiling for aarch64 against the
# sysroot's Python headers (pyconfig.h lives under the multiarch include directory).
mkdir -p "$BASE/pyinc"
ln -sfn "$ROOT/usr/include/aarch64-linux-gnu" "$BASE/pyinc/aarch64-linux-gnu"
PYBIND11_DIR=$(python3 -c "import pybind11; print(pybind11.get_cmake_dir())")
BUILD=$BASE/build
t0=$(date +%s)
cmake -S "$REPO" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_SYSTEM_NAME=Linux -DCMAKE_SYSTEM_PROCESSOR=aarch64 -DCMAKE_CXX_COMPILER="$CXX" \
  -DSKBUILD_PROJECT_VERSION="$(grep -m1 '^version' pyproject.toml | cut -d'"' -f2)" \
  -DPYRNN_WERROR=ON -Dpybind11_DIR="$PYBIND11_DIR" \
  -DPython_EXECUTABLE="$(command -v python3)" \
  -DPython_INCLUDE_DIR="$ROOT/usr/include/$PY" -DCMAKE_CXX_FLAGS="-isystem $BASE/pyinc" \
  -DPYTHON_MODULE_EXTENSION=.cpython-311-aarch64-linux-gnu.so \
  -DCMAKE_FIND_ROOT_PATH="$ROOT" >"$BASE/cmake.log" 2>&1 || { cat "$BASE/cmake.log"; exit 1; }
grep "pyrnn:" "$BASE/cmake.log" || true
cmake --build "$BUILD" -j "${PYRNN_JOBS:-2}" >"$BASE/build.log" 2>&1 || { tail -50 "$BASE/build.log"; exit 1; }
t1=$(date +%s)
SO=$(find "$BUILD" -maxdepth 1 -name '_core*.so' | head -1)
file "$SO" 2>/dev/null || true
echo "aarch64 build: $((t1 - t0)) s"

# The package as a wheel would hold it, in a staging directory (never the source tree's pyrnn/).
STAGE=$BASE/stage
rm -rf "$STAGE" && mkdir -p "$STAGE"
cp -r "$REPO/pyrnn" "$STAGE/pyrnn"
find "$STAGE/pyrnn" -name '_core*.so' -delete
cp "$SO" "$STAGE/pyrnn/_core.cpython-311-aarch64-linux-gnu.so"

# -P: the current directory (the source tree) is not put on sys.path.
export PYTHONPATH=$STAGE PYTHONDONTWRITEBYTECODE=1 PYRNN_LOAD_IN_PROCESS=1
run_arm64 -P -c "import platform, pyrnn; print(platform.machine(), pyrnn.__file__); pyrnn.show_config()"
run_arm64 -P -m pyrnn selftest
run_arm64 -P -m pytest -p no:cacheprovider -q tests/layers/test_oracle_parity.py tests/layers/test_bad_input.py "$@"
t2=$(date +%s)
echo "aarch64 run under qemu: $((t2 - t1)) s (emulated; not a performance figure)"
