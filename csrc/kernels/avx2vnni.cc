// The int8 GEMM of the avx2 tier built with AVX-VNNI (the VEX vpdpbusd of Alder Lake,
// Sapphire Rapids, Zen 5 and later), in place of vpmaddubsw + vpmaddwd + vpaddd. The avx2
// tier uses it on CPUs that have AVX-VNNI (pyrnn/isa.h int8_kernel); only this file gets
// -mavxvnni (see CMakeLists.txt). Same integer results as the other builds.
#define PYRNN_ISA_NS avx2vnni
#define PYRNN_VBYTES 32
#include "kernels/qgemm.h"

namespace pyrnn {
extern const QGemmFn kQGemm_avx2vnni = &avx2vnni::qgemm;
}  // namespace pyrnn
