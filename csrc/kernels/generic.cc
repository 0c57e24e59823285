// The generic tier: kernels/entry.h compiled with 16-byte vectors. Only this file gets this
// tier's compiler flags (see CMakeLists.txt).
#define PYRNN_ISA_NS generic
#define PYRNN_VBYTES 16
#include "kernels/entry.h"

namespace pyrnn {
extern const KernelTable kKernels_generic = {"generic", &generic::run, &generic::activation, &generic::gemm_packed,
                                             &generic::qgemm};
}  // namespace pyrnn
