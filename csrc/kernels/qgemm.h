// int8 GEMM for compute_type "int8" (one ISA tier; see kernels/entry.h).
//
// Weights: per-output-column symmetric int8 (pack_panels_int8 in pyrnn/packing.h), in
// panels of 16 columns whose K rows are grouped by 4: group kq holds, for each column c,
// the 4 bytes of rows 4kq..4kq+3 (one 64-byte line, the operand layout of vpdpbusd and
// of vpmaddubsw + vpmaddwd).
// Activations: each row of A is quantized when the GEMM runs, symmetric, per row, to
// 7 bits: q = rint(a * 63 / max|a|) in [-63, 63], stored as q + 64 (unsigned). Seven
// bits keep vpmaddubsw's pair sums (at most 2 * 127 * 127) below its int16 saturation,
// so every tier computes the same integer dot products (as fbgemm's reduce_range).
// The dot products are exact in int32, so results do not depend on the batch, the
// thread count, the tile that computes them or the order of k: a row's output is
//   C (+)= float(sum_k (q_a + 64) q_w - 64 sum_k q_w) * (s_a * s_w[c]).
#pragma once

#include "kernels/vec.h"

namespace pyrnn {
namespace PYRNN_ISA_NS {
namespace {

constexpr int kQZero = kQZeroPoint;  // the activations' zero point
constexpr float kQMax = 63.0f;       // largest activation code

// Tiles: MR rows x NP panels of int32 accumulators (NP * PV vectors per row).
// AVX-512: a panel's 4-row group is one zmm; 8 x 2 = 16 accumulators, as the float tile.
// AVX2: two ymm per group; 4 x 1 = 8 accumulators plus the vpmaddubsw temporaries.
#if PYRNN_VBYTES >= 64
constexpr int kQMR = 8, kQNP = 2, kQNP4 = 4, kQNP1 = 8;
#elif PYRNN_VBYTES >= 32
constexpr int kQMR = 4, kQNP = 1, kQNP4 = 1, kQNP1 = 4;
#else
constexpr int kQMR = 2, kQNP = 1, kQNP4 = 1, kQNP1 = 2;
#endif
template <int MR>
constexpr int qpanels() {
  return MR == 1 ? kQNP1 : MR == kQMR ? kQNP : kQNP4;
}

typedef int32_t viu __attribute__((vector_size(VB), aligned(1), may_alias));
PYRNN_INLINE vi ldi(const void* p) { return *reinterpret_cast<const viu*>(p); }

// acc + the dot products of 4 unsigned activation bytes (a: every lane the same 4 bytes)
// with 4 signed weight bytes per lane.
PYRNN_INLINE vi qdot(vi acc, vi a, vi w) {
#if defined(__AVX512VNNI__) && PYRNN_VBYTES == 64
  return (vi)_mm512_dpbusd_epi32((__m512i)acc, (__m512i)a, (__m512i)w);
#elif defined(__AVXVNNI__) && PYRNN_VBYTES == 32
  return (vi)_mm256_dpbusd_avx_epi32((__m256i)acc, (__m256i)a, (__m256i)w);
#elif defined(__AVX512BW__) && PYRNN_VBYTES == 64
  return acc + (vi)_mm512_madd_epi16(_mm512_maddubs_epi16((__m512i)a, (__m512i)w), _mm512_set1_epi16(1));
#elif defined(__AVX2__) && PYRNN_VBYTES == 32
  return acc + (vi)_mm256_madd_epi16(_mm256_maddubs_epi16((__m256i)a, (__m256i)w), _mm256_set1_epi16(1));
#else
  uint8_t ab[4];
  int8_t wb[VB];
  const int32_t a0 = a[0];
  memcpy(ab, &a0, 4);
  memcpy(wb, &w, VB);
  for (int i = 0; i < VL; ++i)
    acc[i] += ab[0] * wb[4 * i] + ab[1] * wb[4 * i + 1] + ab[2] * wb[4 * i + 2] + ab[3] * wb[4 * i + 3];
  return acc;
#endif
}

// rint to int32 in the current rounding mode (nearest even), inline on x86 (lrintf is a
// libm call there).
PYRNN_INLINE int32_t rint_i32(float x) {
#ifdef PYRNN_X86
  return _mm_cvtss_si32(_mm_set_ss(x));
#else
  return static_cast<int32_t>(lrintf(x));
#endif
}

// Bytes of one quantized row of K values (padded to whole groups of 4).
inline int64_t qrow_bytes(int64_t K) { return (K + 3) / 4 * 4; }

// Largest lane (MAX) or lane sum of a vector. (Not _mm512_reduce_*: their unmasked
// extracts trip GCC's maybe-uninitialized in the sanitizer build.)
template <bool MAX>
PYRNN_INLINE float hreduce(vf v) {
#if defined(__AVX__) && PYRNN_VBYTES >= 32
  auto op4 = [](__m128 x, __m128 y) { return MAX ? _mm_max_ps(x, y) : _mm_add_ps(x, y); };
#if PYRNN_VBYTES == 64
  auto op8 = [](__m256 x, __m256 y) { return MAX ? _mm256_max_ps(x, y) : _mm256_add_ps(x, y); };
  const __m256 w =
      op8(_mm512_maskz_extractf32x8_ps(0xFF, (__m512)v, 0), _mm512_maskz_extractf32x8_ps(0xFF, (__m512)v, 1));
#else
  const __m256 w = (__m256)v;
#endif
  __m128 h = op4(_mm256_castps256_ps128(w), _mm256_extractf128_ps(w, 1));
  h = op4(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(op4(h, _mm_movehdup_ps(h)));
#else
  float r = v[0];
  for (int i = 1; i < VL; ++i) r = MAX ? (v[i] > r ? v[i] : r) : r + v[i];
  return r;
#endif
}

// Quantizes a[0..K) into q (qrow_bytes(K) bytes; the padding gets the zero point, and
// meets zero weights) and returns the row's scale s_a = max|a| / 63. A row holding a NaN
// or an infinity has no scale: it gets NaN (every output of the row is NaN) and codes 0.
inline float quantize_row(const float* a, int64_t K, uint8_t* q) {
  // max|a|, and sum(a * 0), which is NaN exactly when some a is NaN or infinite.
  vf m = vf{}, z = vf{};
  int64_t k = 0;
  for (; k + VL <= K; k += VL) {
    const vf x = ld(a + k);
    const vf ax = (vf)((vi)x & 0x7fffffff);
    z += x * 0.0f;
    m = sel(ax > m, ax, m);
  }
  float amax = hreduce<true>(m), zs = hreduce<false>(z);
  for (int64_t j = k; j < K; ++j) {
    const float ax = fabsf(a[j]);
    zs += a[j] * 0.0f;
    amax = ax > amax ? ax : amax;
  }
  const bool nonfinite = !(zs == 0.0f);
  const int64_t kp = qrow_bytes(K);
  if (nonfinite || amax == 0.0f) {
    memset(q, kQZero, (size_t)kp);
    return nonfinite ? NAN : 0.0f;
  }
  const float inv = kQMax / amax;
  k = 0;
#if defined(__AVX512F__) && PYRNN_VBYTES == 64
  const __m512i zp = _mm512_set1_epi32(kQZero);
  for (; k + 16 <= K; k += 16) {
    const __m512i c = _mm512_add_epi32(
        _mm512_maskz_cvtps_epi32(0xFFFF, _mm512_mul_ps(_mm512_loadu_ps(a + k), _mm512_set1_ps(inv))), zp);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(q + k),
                     _mm512_maskz_cvtepi32_epi8(0xFFFF, c));  // maskz: as vmin in vec.h
  }
#elif defined(__AVX2__) && PYRNN_VBYTES == 32
  const __m256i zp = _mm256_set1_epi32(kQZero);
  for (; k + 8 <= K; k += 8) {
    const __m256i c =
        _mm256_add_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(a + k), _mm256_set1_ps(inv))), zp);
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1));
    _mm_storel_epi64(reinterpret_cast<__m128i*>(q + k), _mm_packus_epi16(w, w));
  }
#endif
  for (; k < K; ++k) q[k] = static_cast<uint8_t>(rint_i32(a[k] * inv) + kQZero);
  for (; k < kp; ++k) q[k] = kQZero;
  return amax / kQMax;
}

// VL outputs from their integer dot products: C (+)= float(acc - comp) * (s_a * s_w). Every
// int8 kernel ends here, so a row's outputs do not depend on which kernel computed them.
template <bool ACC>
PYRNN_INLINE void dequant(float* C, vi acc, const int32_t* comp, float sa, const float* sw) {
  const vf f = __builtin_convertvector(acc - ldi(comp), vf) * (splat(sa) * ld(sw));
  st(C, ACC ? ld(C) + f : f);
}

// MR quantized rows (row stride ldq bytes, scales sa) times NP panels (panel stride
// pstride bytes), into C's columns of those panels.
template <int MR, int NP, bool ACC>
inline void qtile(int64_t Kq, const uint8_t* Aq, int64_t ldq, const float* sa, const int8_t* P, int64_t pstride,
                  const float* sw, const int32_t* comp, float* C, int64_t ldc) {
  vi acc[MR][NP * PV];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NP * PV; ++j) acc[r][j] = vi{};
  for (int64_t kq = 0; kq < Kq; ++kq) {
    vi w[NP * PV];
    for (int q = 0; q < NP; ++q)
      for (int v = 0; v < PV; ++v) w[q * PV + v] = ldi(P + q * pstride + kq * 64 + v * VB);
    for (int r = 0; r < MR; ++r) {
      int32_t word;
      memcpy(&word, Aq + r * ldq + kq * 4, 4);
      const vi a = vi{} + word;
      for (int j = 0; j < NP * PV; ++j) acc[r][j] = qdot(acc[r][j], a, w[j]);
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NP * PV; ++j) {
      const int64_t c = j * VL;  // panel j / PV, vector j % PV: columns are contiguous
      dequant<ACC>(C + r * ldc + c, acc[r][j], comp + c, sa[r], sw + c);
    }
}

// All npan panels for MR rows: whole tiles, then the rest in groups of 4, 2 and 1.
template <int MR, bool ACC>
inline void qrows(int64_t npan, int64_t Kq, const uint8_t* Aq, int64_t ldq, const float* sa, const int8_t* P,
                  const float* sw, const int32_t* comp, float* C, int64_t ldc) {
  constexpr int NPB = qpanels<MR>();
  const int64_t ps = Kq * 64;
  int64_t p = 0;
  auto at = [&](int64_t pp) { return pp * kPanel; };
  for (; p + NPB <= npan; p += NPB)
    qtile<MR, NPB, ACC>(Kq, Aq, ldq, sa, P + p * ps, ps, sw + at(p), comp + at(p), C + at(p), ldc);
  if constexpr (NPB > 4)
    for (; p + 4 <= npan; p += 4)
      qtile<MR, 4, ACC>(Kq, Aq, ldq, sa, P + p * ps, ps, sw + at(p), comp + at(p), C + at(p), ldc);
  if constexpr (NPB > 2)
    for (; p + 2 <= npan; p += 2)
      qtile<MR, 2, ACC>(Kq, Aq, ldq, sa, P + p * ps, ps, sw + at(p), comp + at(p), C + at(p), ldc);
  for (; p < npan; ++p) qtile<MR, 1, ACC>(Kq, Aq, ldq, sa, P + p * ps, ps, sw + at(p), comp + at(p), C + at(p), ldc);
}

template <bool ACC>
void qgemm_rows(int64_t M, int64_t npan, int64_t Kq, const uint8_t* Aq, int64_t ldq, const float* sa, const int8_t* P,
                const float* sw, const int32_t* comp, float* C, int64_t ldc) {
  int64_t m = 0;
  for (; m + kQMR <= M; m += kQMR) qrows<kQMR, ACC>(npan, Kq, Aq + m * ldq, ldq, sa + m, P, sw, comp, C + m * ldc, ldc);
  if constexpr (kQMR > 4)
    for (; m + 4 <= M; m += 4) qrows<4, ACC>(npan, Kq, Aq + m * ldq, ldq, sa + m, P, sw, comp, C + m * ldc, ldc);
  if constexpr (kQMR > 2)
    for (; m + 2 <= M; m += 2) qrows<2, ACC>(npan, Kq, Aq + m * ldq, ldq, sa + m, P, sw, comp, C + m * ldc, ldc);
  for (; m < M; ++m) qrows<1, ACC>(npan, Kq, Aq + m * ldq, ldq, sa + m, P, sw, comp, C + m * ldc, ldc);
}

using QRowsFn = void (*)(int64_t M, int64_t npan, int64_t Kq, const uint8_t* Aq, int64_t ldq, const float* sa,
                         const int8_t* P, const float* sw, const int32_t* comp, float* C, int64_t ldc);

// C[M, npan*16] (+)= A[M, K] @ P, P int8 panels with column scales sw and compensation
// comp (64 x the column's weight sum), the quantized rows multiplied by `rows`. work:
// qgemm_work_bytes(M, K) bytes, 64-byte aligned. weights_outer: panels in groups of 8 for
// all rows before the next group (for weights beyond the cache); the same results.
inline void qgemm_with(QRowsFn rows, int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const int8_t* P,
                       const float* sw, const int32_t* comp, float* C, int64_t ldc, bool weights_outer, uint8_t* work) {
  const int64_t Kq = (K + 3) / 4, ldq = qrow_bytes(K);
  float* sa = reinterpret_cast<float*>(work);
  uint8_t* q = work + (M * 4 + 63) / 64 * 64;
  for (int64_t m = 0; m < M; ++m) sa[m] = quantize_row(A + m * lda, K, q + m * ldq);
  if (!weights_outer) {
    rows(M, npan, Kq, q, ldq, sa, P, sw, comp, C, ldc);
    return;
  }
  for (int64_t p0 = 0; p0 < npan; p0 += 8) {
    const int64_t np = npan - p0 < 8 ? npan - p0 : 8;
    rows(M, np, Kq, q, ldq, sa, P + p0 * Kq * 64, sw + p0 * kPanel, comp + p0 * kPanel, C + p0 * kPanel, ldc);
  }
}

inline void qgemm(bool acc, int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const int8_t* P,
                  const float* sw, const int32_t* comp, float* C, int64_t ldc, bool weights_outer, uint8_t* work) {
  qgemm_with(acc ? &qgemm_rows<true> : &qgemm_rows<false>, M, npan, K, A, lda, P, sw, comp, C, ldc, weights_outer,
             work);
}

}  // namespace
}  // namespace PYRNN_ISA_NS
}  // namespace pyrnn
