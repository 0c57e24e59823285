// The avx2 tier: kernels/entry.h compiled with 32-byte vectors. Only this file gets this
// tier's compiler flags (see CMakeLists.txt).
#define PYRNN_ISA_NS avx2
#define PYRNN_VBYTES 32
#include "kernels/entry.h"

namespace pyrnn {
extern const KernelTable kKernels_avx2 = {"avx2", &avx2::run, &avx2::activation, &avx2::gemm_packed, &avx2::qgemm};
}  // namespace pyrnn
