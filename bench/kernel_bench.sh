#!/bin/sh
# Builds and runs bench/kernel_bench.cc for one tier: bench/kernel_bench.sh TIER [--quick] [-D...]
# (extra -D flags override the tile constants, all of PYRNN_TILE_{MR,NP,NP4,NP1,NPW,PF}; see kernels/gemm.h).
set -e
tier=${1:-avx2}
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
case $tier in
  avx512) flags="-mavx2 -mfma -mavx512f -mavx512dq -mavx512bw -mavx512vl -mprefer-vector-width=512" vb=64 ;;
  avx2) flags="-mavx2 -mfma" vb=32 ;;
  generic) flags="" vb=16 ;;
  *) echo "tier: avx512, avx2 or generic" >&2; exit 2 ;;
esac
args="" defs=""
for a in "$@"; do
  case $a in -D*) defs="$defs $a" ;; *) args="$args $a" ;; esac
done
out=${TMPDIR:-/tmp}/pyrnn_kernel_bench_$tier$$
${CXX:-c++} -O3 -std=c++17 $flags -DPYRNN_ISA_NS=$tier -DPYRNN_VBYTES=$vb -DPYRNN_ISA_NAME="\"$tier\"" $defs \
  -I"$here/csrc" -I"$here/csrc/include" "$here/bench/kernel_bench.cc" -o "$out"
"$out" $args
rm -f "$out"
