// The kernels, written once and compiled once per ISA tier.
//
// A per-ISA source (kernels/generic.cc, avx2.cc, avx512.cc) defines PYRNN_ISA_NS (the
// namespace that keeps its symbols apart) and PYRNN_VBYTES (the vector width in bytes)
// and includes this file; CMake gives only that source its -m flags. Everything in
// kernels/ lives in an anonymous namespace except the entry points below, and nothing
// from a shared header is instantiated (no std templates, only C library calls), so no
// code built with wide-ISA flags can be picked by the linker for a caller on another
// tier.
#pragma once

#include "kernels/activation.h"
#include "kernels/gemm.h"
#include "kernels/qgemm.h"
#include "kernels/time_loop.h"

namespace pyrnn {
namespace PYRNN_ISA_NS {

void activation(Act act, float* data, int64_t rows, int64_t n, int64_t stride) {
  FlushDenormals ftz;
  act_rows(act, data, rows, n, stride);
}

void gemm_packed(bool acc, int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const float* P, float* C,
                 int64_t ldc) {
  FlushDenormals ftz;
  gemm(acc, M, npan, K, A, lda, P, C, ldc);
}

}  // namespace PYRNN_ISA_NS
}  // namespace pyrnn
