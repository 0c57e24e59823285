// Vector exp, reciprocal, sigmoid and tanh, and the elementwise activations built on
// them (one ISA tier; see kernels/entry.h). These are most of a step's non-GEMM time,
// and a 512-bit operation issues about once per cycle whatever it is, so they are
// written for few operations.
#pragma once

#include "kernels/vec.h"

namespace pyrnn {
namespace PYRNN_ISA_NS {
namespace {

// exp(s*x) for s = +1 or -1 (sigmoid's exp(-x) needs no negation): Cephes expf (range
// reduction by ln2 split in two, degree-6 polynomial, < 1 ulp on its range). s*x is
// clamped to [-87, 88], harmless for the functions built on it; NaN passes through.
template <int S>
PYRNN_INLINE vf vexp_s(vf x) {
  x = S > 0 ? vclip(x, -87.0f, 88.0f) : vclip(x, -88.0f, 87.0f);
  vf fx = x * (S * 1.44269504088896341f);
  fx = (fx + 12582912.0f) - 12582912.0f;  // round to nearest integer (|fx| < 2^22)
  // r = s*x - fx*ln2, with ln2 in two parts (FMA forms of the same products)
  vf r = S > 0 ? x - fx * 0.693359375f : -(fx * 0.693359375f) - x;
  r = r - fx * -2.12194440e-4f;
  vf y = splat(1.9875691500e-4f);
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
#if defined(__AVX512F__) && PYRNN_VBYTES == 64
  return (vf)_mm512_maskz_scalef_ps((__mmask16)0xFFFF, (__m512)y, (__m512)fx);  // y * 2^fx in one instruction
#else
  vi n = __builtin_convertvector(fx, vi);
  vi e = (n + 127) << 23;
  return y * (vf)e;
#endif
}

// 1/d by the hardware estimate and Newton steps (one after AVX-512's 14-bit estimate,
// two after AVX2's 12-bit one): a divide is several times slower per vector.
// NaN stays NaN; d is never 0 or infinite where it is used below.
PYRNN_INLINE vf vrecip(vf d) {
  // A step as r + r*(1 - d*r): the fused residual is exact, so the last ulp is corrected
  // (r*(2 - d*r) leaves 1/1 at 0.99999994, since 2 - d*r rounds).
#if defined(__AVX512F__) && PYRNN_VBYTES == 64
  const vf r =
      (vf)_mm512_maskz_rcp14_ps((__mmask16)0xFFFF, (__m512)d);  // maskz: GCC warns on rcp14's undefined passthrough
  return r + r * (1.0f - d * r);
#elif defined(__AVX__) && PYRNN_VBYTES == 32
  vf r = (vf)_mm256_rcp_ps((__m256)d);
  r = r + r * (1.0f - d * r);
  return r + r * (1.0f - d * r);
#else
  return 1.0f / d;
#endif
}

PYRNN_INLINE vf vsigmoid(vf x) { return vrecip(1.0f + vexp_s<-1>(x)); }

// tanh as Eigen's 13/6-degree rational interpolant on [-9, 9], +/-1 beyond: the kind of
// approximation TensorFlow's CPU kernels use, as accurate as TF's own tanh and cheaper
// than an exp-based one (figures: bench/notes/tuning.md). NaN passes through.
PYRNN_INLINE vf vtanh(vf x) {
  x = vclip(x, -9.0f, 9.0f);
  const vf x2 = x * x;
  vf p = splat(-2.76076847742355e-16f);
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 - 8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  vf q = splat(1.19825839466702e-06f);
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  // The ratio can land an ulp outside [-1, 1] near the ends, and 1 ulp short at 9,
  // where x/9 is exactly +/-1 (x2 >= 81 only there, x being clamped).
  const vf t = vclip((x * p) * vrecip(q), -1.0f, 1.0f);
#if defined(__AVX512F__) && PYRNN_VBYTES == 64
  const __mmask16 at9 = _mm512_cmp_ps_mask((__m512)x2, _mm512_set1_ps(81.0f), _CMP_GE_OQ);
  return (vf)_mm512_mask_mul_ps((__m512)t, at9, (__m512)x, _mm512_set1_ps(1.0f / 9.0f));
#else
  return sel(x2 >= 81.0f, x * (1.0f / 9.0f), t);
#endif
}

#define PYRNN_ACT_FN inline
#include "pyrnn/act_scalar.inc"
#undef PYRNN_ACT_FN

// Elementwise activation of one vector. The common gate activations are vector code;
// the rest go lane by lane through act_scalar.
PYRNN_INLINE vf act_vec(Act a, vf x) {
  switch (a) {
    case Act::Linear: return x;
    case Act::Tanh: return vtanh(x);
    case Act::Sigmoid: return vsigmoid(x);
    case Act::HardSigmoid: return vclip(x * (1.0f / 6.0f) + 0.5f, 0.0f, 1.0f);
    case Act::HardSigmoidK2: return vclip(x * 0.2f + 0.5f, 0.0f, 1.0f);
    case Act::Relu: return vmax0(x);
    default: {
      float t[VL];
      memcpy(t, &x, sizeof(t));
      for (int i = 0; i < VL; ++i) t[i] = act_scalar(a, t[i]);
      memcpy(&x, t, sizeof(t));
      return x;
    }
  }
}

}  // namespace
}  // namespace PYRNN_ISA_NS
}  // namespace pyrnn
