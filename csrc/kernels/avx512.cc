// The avx512 tier: kernels/entry.h compiled with 64-byte vectors. Only this file gets this
// tier's compiler flags (see CMakeLists.txt).
#define PYRNN_ISA_NS avx512
#define PYRNN_VBYTES 64
#include "kernels/entry.h"

namespace pyrnn {
extern const KernelTable kKernels_avx512 = {"avx512", &avx512::run, &avx512::activation, &avx512::gemm_packed,
                                            &avx512::qgemm};
}  // namespace pyrnn
