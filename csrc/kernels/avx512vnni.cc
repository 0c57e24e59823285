// The int8 GEMM of the avx512 tier built with AVX512_VNNI (vpdpbusd: four multiply-adds
// per 32-bit lane in one instruction, in place of vpmaddubsw + vpmaddwd + vpaddd). The
// avx512 tier uses it on CPUs that have VNNI (pyrnn/isa.h int8_kernel); only this file
// gets -mavx512vnni (see CMakeLists.txt). Same integer results as the other builds.
#define PYRNN_ISA_NS avx512vnni
#define PYRNN_VBYTES 64
#include "kernels/qgemm.h"

namespace pyrnn {
extern const QGemmFn kQGemm_avx512vnni = &avx512vnni::qgemm;
}  // namespace pyrnn
