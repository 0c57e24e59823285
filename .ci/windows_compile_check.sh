#!/usr/bin/env bash
# Compiles pyrnn's C++ for Windows x86-64 with Debian's MinGW-w64 cross compiler (GCC,
# posix thread model), as far as that is possible on Linux:
#   * every translation unit that does not include Python (runtime/, ops/, layers/, the
#     three kernel tiers with their CMake flags) is compiled to an object, warnings as errors,
#     and the objects are linked into a DLL (proves the Windows branches of runtime/platform.cc
#     and runtime/isa.cc compile and link against kernel32: GlobalMemoryStatusEx,
#     _getpid, _aligned_malloc);
#   * the bindings (csrc/bindings/) are NOT compiled: they need Windows' Python headers,
#     which are not available here.
# What this is not: an MSVC or clang-cl build (the wheels use clang-cl; its _MSC_VER branches
# -- __cpuid/__cpuidex/_xgetbv -- are compiled only there), and nothing is run (no Windows here).
#
#   .ci/windows_compile_check.sh      (needs: apt-get install g++-mingw-w64-x86-64)
set -euo pipefail
cd "$(dirname "$0")/.."
CXX=${PYRNN_MINGW_CXX:-x86_64-w64-mingw32-g++-posix}
command -v "$CXX" >/dev/null || { echo "windows_compile_check: $CXX not found (apt-get install g++-mingw-w64-x86-64)"; exit 77; }
OUT=${TMPDIR:-/tmp}/pyrnn-mingw
rm -rf "$OUT" && mkdir -p "$OUT"
FLAGS=(-std=c++17 -O2 -Wall -Wextra -Werror -Icsrc/include -Icsrc -DPYRNN_HAVE_AVX2 -DPYRNN_HAVE_AVX512 -DPYRNN_HAVE_AVX512VNNI)
compile() {  # compile SRC [EXTRA FLAGS...]
  local src=$1; shift
  "$CXX" "${FLAGS[@]}" "$@" -c "$src" -o "$OUT/$(echo "$src" | tr / _).o" || { echo "FAILED: $src"; return 1; }
}
export -f compile; export CXX OUT; export FLAGS_STR="${FLAGS[*]}"
srcs=(csrc/runtime/*.cc csrc/ops/*.cc csrc/layers/*.cc csrc/kernels/generic.cc)
printf '%s\n' "${srcs[@]}" | xargs -P "${PYRNN_JOBS:-2}" -n 1 bash -c 'FLAGS=($FLAGS_STR); compile "$0"'
AVX2=(-mavx2 -mfma -mf16c)  # the tiers' flags, as CMakeLists.txt sets them
AVX512=("${AVX2[@]}" -mavx512f -mavx512dq -mavx512bw -mavx512vl -mprefer-vector-width=512)
compile csrc/kernels/avx2.cc "${AVX2[@]}"
compile csrc/kernels/avx2vnni.cc "${AVX2[@]}" -mavxvnni
compile csrc/kernels/avx512.cc "${AVX512[@]}"
compile csrc/kernels/avx512vnni.cc "${AVX512[@]}" -mavx512vnni
compile csrc/kernels/avx512amx.cc "${AVX512[@]}" -mavx512vnni -mamx-tile -mamx-int8
srcs+=(csrc/kernels/avx2.cc csrc/kernels/avx2vnni.cc csrc/kernels/avx512.cc csrc/kernels/avx512vnni.cc
  csrc/kernels/avx512amx.cc)
n=$(ls "$OUT"/*.o | wc -l)
[[ $n -eq ${#srcs[@]} ]] || { echo "windows_compile_check: $n of ${#srcs[@]} objects built"; exit 1; }
# Everything but the bindings links into a DLL (no undefined symbols allowed).
"$CXX" -shared -o "$OUT/pyrnn_core_nobindings.dll" "$OUT"/*.o -static-libgcc -static-libstdc++ -Wl,--no-undefined
echo "windows_compile_check: ${#srcs[@]} translation units compiled for x86_64-w64-mingw32 and linked into a DLL"
echo "  ($(du -h "$OUT/pyrnn_core_nobindings.dll" | cut -f1)); the bindings were not compiled (no Windows Python headers)"
