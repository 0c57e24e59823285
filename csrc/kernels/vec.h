// Vector primitives of one ISA tier (part of the kernels compiled once per tier; see
// kernels/entry.h). Vectors are GCC/Clang vector extensions: the same source becomes
// SSE2/NEON code for the generic tier, AVX2+FMA for avx2 and 512-bit code for avx512.
// x86 intrinsics appear only under the matching __AVX*__ / PYRNN_X86 guard.
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pyrnn/kernels.h"

#if !defined(PYRNN_ISA_NS) || !defined(PYRNN_VBYTES)
#error "include kernels/entry.h from a per-ISA source, which defines PYRNN_ISA_NS and PYRNN_VBYTES"
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <xmmintrin.h>
#define PYRNN_X86 1
#endif
#if defined(__AVX__)
#include <immintrin.h>  // only in the AVX2/AVX-512 compilations of this file
#endif

namespace pyrnn {
namespace PYRNN_ISA_NS {
namespace {

constexpr int VB = PYRNN_VBYTES;
constexpr int VL = VB / 4;       // floats per vector
constexpr int PV = kPanel / VL;  // vectors per 16-float panel
static_assert(kPanel % VL == 0, "panel must be a whole number of vectors");

typedef float vf __attribute__((vector_size(VB)));
typedef int32_t vi __attribute__((vector_size(VB)));
typedef float vfu __attribute__((vector_size(VB), aligned(4), may_alias));

inline vf ld(const float* p) { return *reinterpret_cast<const vfu*>(p); }
inline void st(float* p, vf v) { *reinterpret_cast<vfu*>(p) = v; }
// A broadcast the compiler can fold into the FMA's memory operand. (`vf{} + a` costs
// an add on the critical path and keeps the broadcast on the FMA port.)
inline vf splat(float a) {
#if defined(__AVX512F__) && PYRNN_VBYTES == 64
  return (vf)_mm512_set1_ps(a);
#elif defined(__AVX__) && PYRNN_VBYTES == 32
  return (vf)_mm256_set1_ps(a);
#elif defined(PYRNN_X86) && PYRNN_VBYTES == 16
  return (vf)_mm_set1_ps(a);
#else
  return vf{} + a;
#endif
}

inline vf sel(vi m, vf a, vf b) { return (vf)((m & (vi)a) | (~m & (vi)b)); }

#define PYRNN_INLINE inline __attribute__((always_inline))

// min(x, c) and max(x, c) that let NaN through: x86's min/max return their second
// operand when either is NaN, so x goes second (one instruction; elsewhere a select).
PYRNN_INLINE vf vmin(vf x, float c) {
#if defined(__AVX512F__) && PYRNN_VBYTES == 64
  return (vf)_mm512_maskz_min_ps((__mmask16)0xFFFF, _mm512_set1_ps(c), (__m512)x);  // maskz: as vrecip
#elif defined(__AVX__) && PYRNN_VBYTES == 32
  return (vf)_mm256_min_ps(_mm256_set1_ps(c), (__m256)x);
#elif defined(PYRNN_X86) && PYRNN_VBYTES == 16
  return (vf)_mm_min_ps(_mm_set1_ps(c), (__m128)x);
#else
  return sel(x > c, splat(c), x);
#endif
}
PYRNN_INLINE vf vmax(vf x, float c) {
#if defined(__AVX512F__) && PYRNN_VBYTES == 64
  return (vf)_mm512_maskz_max_ps((__mmask16)0xFFFF, _mm512_set1_ps(c), (__m512)x);
#elif defined(__AVX__) && PYRNN_VBYTES == 32
  return (vf)_mm256_max_ps(_mm256_set1_ps(c), (__m256)x);
#elif defined(PYRNN_X86) && PYRNN_VBYTES == 16
  return (vf)_mm_max_ps(_mm_set1_ps(c), (__m128)x);
#else
  return sel(x < c, splat(c), x);
#endif
}
PYRNN_INLINE vf vclip(vf x, float lo, float hi) { return vmin(vmax(x, lo), hi); }
inline vf vmax0(vf x) { return vmax(x, 0.0f); }

}  // namespace
}  // namespace PYRNN_ISA_NS
}  // namespace pyrnn
