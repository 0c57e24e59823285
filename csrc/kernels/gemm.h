// GEMM micro-kernels on packed weight panels (one ISA tier; see kernels/entry.h).
#pragma once

#include <type_traits>

#include "kernels/vec.h"

namespace pyrnn {
namespace PYRNN_ISA_NS {
namespace {

// Register tiles: MR rows x NP panels of accumulators, per tier. Sized so accumulators
// plus the loaded weights stay within the register file; chosen with
// bench/kernel_bench.cc against the tier's FMA peak (bench/notes/tuning.md), not guessed.
// - 32 zmm (AVX-512): 8 rows x 2 panels = 16 accumulators + 2 weight vectors, each row's
//   broadcast folded into its FMA ({1to16}); every weight vector is used 8 times, so a
//   tile streams weights at half the rate of 4 x 4 (13% faster from L2, 25-40% from
//   memory). The 4-row rest keeps 4 panels (16 chains).
// - 16 ymm (AVX2): 6 x 1 panel = 12 accumulators + 2 weight vectors + 1 broadcast (no
//   embedded broadcast: it takes a register): 12 FMAs per 8 loads, against 4 x 1's 8 FMAs
//   per 6 loads and 8 chains, too few to hide the FMA latency. The 4-row rest: 4 x 1.
// - 16 xmm (generic): 2 rows; panels are 4 xmm each.
// kNP4 / kNP1: panels of a 4-row / one- or two-row tile; kNPW: panels of a single-row
// (GEMV) tile, whose weight loads fold into the FMAs. kPrefetchK: tiles of 4 rows and
// more prefetch their weights this many rows of K ahead (0: off; +4% with AVX-512, within
// the noise with AVX2). PYRNN_TILE_* override them all for bench/kernel_bench.cc.
#if defined(PYRNN_TILE_MR)
constexpr int kMR = PYRNN_TILE_MR, kNP = PYRNN_TILE_NP, kNP4 = PYRNN_TILE_NP4, kNP1 = PYRNN_TILE_NP1,
              kNPW = PYRNN_TILE_NPW, kPrefetchK = PYRNN_TILE_PF;
#elif PYRNN_VBYTES >= 64
constexpr int kMR = 8, kNP = 2, kNP4 = 4, kNP1 = 8, kNPW = 8, kPrefetchK = 8;
#elif PYRNN_VBYTES >= 32
constexpr int kMR = 6, kNP = 1, kNP4 = 1, kNP1 = 2, kNPW = 6, kPrefetchK = 0;
#else
constexpr int kMR = 2, kNP = 1, kNP4 = 1, kNP1 = 2, kNPW = 3, kPrefetchK = 0;
#endif

// Weight element types of the panels: float32, or 16-bit storage (bfloat16, float16)
// widened to float32 in registers as they are loaded (compute_type "bfloat16" /
// "float16": the arithmetic after the load is the float32 arithmetic).
struct WF32 {
  using T = float;
};
struct WBF16 {
  using T = uint16_t;
};
struct WF16 {
  using T = uint16_t;
};

// IEEE half to float (the generic tier; exact, subnormals included).
inline float half_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16, e = (h >> 10) & 0x1fu, m = h & 0x3ffu;
  uint32_t bits;
  if (e == 0) {
    const float v = static_cast<float>(m) * 5.9604644775390625e-8f;  // m * 2^-24, exact
    memcpy(&bits, &v, 4);
    bits |= sign;
  } else if (e == 31) {
    bits = sign | 0x7f800000u | (m << 13);
  } else {
    bits = sign | ((e + 112) << 23) | (m << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

// VL weights at p as floats.
template <class W>
PYRNN_INLINE vf ldw(const typename W::T* p) {
  if constexpr (std::is_same<W, WF32>::value) {
    return ld(p);
  } else if constexpr (std::is_same<W, WBF16>::value) {  // bfloat16: the upper half of a float
    // One shuffle per vector, into the upper halves of zeroed lanes (no shift, which would
    // take an FMA port on Intel).
#if defined(__AVX512BW__) && PYRNN_VBYTES == 64
    const __m512i idx = _mm512_set_epi16(15, 0, 14, 0, 13, 0, 12, 0, 11, 0, 10, 0, 9, 0, 8, 0, 7, 0, 6, 0, 5, 0, 4, 0,
                                         3, 0, 2, 0, 1, 0, 0, 0);
    const __m256i h = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    return (vf)_mm512_maskz_permutexvar_epi16(0xAAAAAAAAu, idx, _mm512_castsi256_si512(h));
#elif defined(__AVX2__) && PYRNN_VBYTES == 32
    const __m256i idx = _mm256_setr_epi8(-1, -1, 0, 1, -1, -1, 2, 3, -1, -1, 4, 5, -1, -1, 6, 7, -1, -1, 8, 9, -1, -1,
                                         10, 11, -1, -1, 12, 13, -1, -1, 14, 15);
    return (vf)_mm256_shuffle_epi8(_mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))),
                                   idx);
#else
    vi r = {};
    for (int i = 0; i < VL; ++i) r[i] = static_cast<int32_t>(static_cast<uint32_t>(p[i]) << 16);
    return (vf)r;
#endif
  } else {  // float16
#if defined(__AVX512F__) && PYRNN_VBYTES == 64
    return (vf)_mm512_maskz_cvtph_ps(0xFFFF,
                                     _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));  // maskz: as vmin
#elif defined(__F16C__) && PYRNN_VBYTES == 32
    return (vf)_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
#else
    vf r = {};
    for (int i = 0; i < VL; ++i) r[i] = half_to_float(p[i]);
    return r;
#endif
  }
}

// GEMM on packed panels: C[m, panel p] (+)= sum_k A[m*lda + k] * P[p][k][0..16), panel p
// of C at C + 16p. Every output element is one FMA chain over k in order, whatever tile
// computes it and in whatever order the panels are visited, so a row's result never
// depends on the batch size or on which other rows are present. ACC: each chain starts
// from Cin[m*ldcin + ...] (C itself to accumulate, or ldcin = 0: one bias row for every
// row, which saves copying the bias into C first); else from zero.

template <class W, int MR, int NP, bool ACC>
inline void tile(int64_t K, const float* A, int64_t lda, const typename W::T* P, int64_t pstride, float* C, int64_t ldc,
                 const float* Cin, int64_t ldcin) {
  vf acc[MR][NP * PV];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NP * PV; ++j) acc[r][j] = ACC ? ld(Cin + r * ldcin + j * VL) : vf{};
  for (int64_t k = 0; k < K; ++k) {
    if constexpr (MR >= 4 && kPrefetchK > 0)
      for (int q = 0; q < NP; ++q) __builtin_prefetch(P + q * pstride + (k + kPrefetchK) * kPanel, 0, 3);
    vf b[NP * PV];
    for (int q = 0; q < NP; ++q)
      for (int v = 0; v < PV; ++v) b[q * PV + v] = ldw<W>(P + q * pstride + k * kPanel + v * VL);
    for (int r = 0; r < MR; ++r) {
      const vf a = splat(A[r * lda + k]);
      for (int j = 0; j < NP * PV; ++j) acc[r][j] += a * b[j];
    }
  }
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NP * PV; ++j) st(C + r * ldc + j * VL, acc[r][j]);
}

// Panels per tile for a given row count: as many independent accumulator chains as the
// register file holds (one or two rows get more panels so enough FMAs are in flight).
template <int MR>
constexpr int panels_per_tile() {
  return MR <= 2 ? kNP1 : MR == kMR ? kNP : kNP4;
}

// One group of `np` panels starting at panel p, for a tile of MR rows.
template <class W, int MR, bool ACC>
inline void group(int np, int64_t p, int64_t K, const float* A, int64_t lda, const typename W::T* P, float* C,
                  int64_t ldc, const float* Cin, int64_t ldcin) {
  const int64_t ps = K * kPanel;
  const typename W::T* Pp = P + p * ps;
  float* Cp = C + p * kPanel;
  const float* Ci = Cin + p * kPanel;
  switch (np) {
    case 4: tile<W, MR, (panels_per_tile<MR>() >= 4 ? 4 : 1), ACC>(K, A, lda, Pp, ps, Cp, ldc, Ci, ldcin); break;
    case 2: tile<W, MR, (panels_per_tile<MR>() >= 2 ? 2 : 1), ACC>(K, A, lda, Pp, ps, Cp, ldc, Ci, ldcin); break;
    case 1: tile<W, MR, 1, ACC>(K, A, lda, Pp, ps, Cp, ldc, Ci, ldcin); break;
    default: tile<W, MR, panels_per_tile<MR>(), ACC>(K, A, lda, Pp, ps, Cp, ldc, Ci, ldcin); break;
  }
}

// All panels for MR rows: full tiles, then the remainder in halving groups (a one-panel
// tile is a single dependent FMA chain, latency-bound, so leftovers are kept together).
// `rev` visits the same groups last to first: alternating it between calls that stream
// the same weights reuses what the previous call left in L1.
template <class W, int MR, bool ACC>
inline void row_block(int64_t npan, int64_t K, const float* A, int64_t lda, const typename W::T* P, float* C,
                      int64_t ldc, const float* Cin, int64_t ldcin, bool rev) {
  constexpr int NPB = panels_per_tile<MR>();
  const int64_t full = npan / NPB * NPB;
  int rest[3], nrest = 0;
  int64_t left = npan - full;
  if (NPB > 4 && left >= 4) {
    rest[nrest++] = 4;
    left -= 4;
  }
  if (NPB > 2 && left >= 2) {
    rest[nrest++] = 2;
    left -= 2;
  }
  if (left >= 1) rest[nrest++] = 1;  // at most one left here
  if (!rev) {
    int64_t p = 0;
    for (; p < full; p += NPB) group<W, MR, ACC>(NPB, p, K, A, lda, P, C, ldc, Cin, ldcin);
    for (int i = 0; i < nrest; ++i) {
      group<W, MR, ACC>(rest[i], p, K, A, lda, P, C, ldc, Cin, ldcin);
      p += rest[i];
    }
  } else {
    int64_t p = npan;
    for (int i = nrest - 1; i >= 0; --i) {
      p -= rest[i];
      group<W, MR, ACC>(rest[i], p, K, A, lda, P, C, ldc, Cin, ldcin);
    }
    for (; p > 0; p -= NPB) group<W, MR, ACC>(NPB, p - NPB, K, A, lda, P, C, ldc, Cin, ldcin);
  }
}

// A single row (batch 1): a GEMV, every panel's FMA chain independent, so the panels are
// split into as few near-equal tiles as the register file allows (up to kNPW panels).
template <class W, int N, bool ACC>
inline void tile_row(int n, int64_t K, const float* A, const typename W::T* P, int64_t ps, float* C, const float* Cin) {
  if (n == N)
    tile<W, 1, N, ACC>(K, A, 0, P, ps, C, 0, Cin, 0);
  else if constexpr (N > 1)
    tile_row<W, N - 1, ACC>(n, K, A, P, ps, C, Cin);
}

template <class W, bool ACC>
inline void gemv(int64_t npan, int64_t K, const float* A, const typename W::T* P, float* C, const float* Cin,
                 bool rev) {
  const int64_t ps = K * kPanel;
  const int64_t ng = (npan + kNPW - 1) / kNPW;
  for (int64_t i = 0; i < ng; ++i) {
    const int64_t g = rev ? ng - 1 - i : i;
    const int64_t p0 = npan * g / ng, p1 = npan * (g + 1) / ng;
    tile_row<W, kNPW, ACC>(static_cast<int>(p1 - p0), K, A, P + p0 * ps, ps, C + p0 * kPanel, Cin + p0 * kPanel);
  }
}

// The rows left after the full kMR-row tiles: a 4-row tile where kMR > 4, 2-row tiles,
// then single rows.
template <class W, bool ACC>
void gemm_t(int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const typename W::T* P, float* C,
            int64_t ldc, const float* Cin, int64_t ldcin, bool rev) {
  int64_t m = 0;
  // Row blocks alternate direction too, so consecutive blocks share the panels at the turn.
  if (M > 1)
    for (; m + kMR <= M; m += kMR, rev = !rev)
      row_block<W, kMR, ACC>(npan, K, A + m * lda, lda, P, C + m * ldc, ldc, Cin + m * ldcin, ldcin, rev);
  if constexpr (kMR > 4)
    for (; m + 4 <= M; m += 4, rev = !rev)
      row_block<W, 4, ACC>(npan, K, A + m * lda, lda, P, C + m * ldc, ldc, Cin + m * ldcin, ldcin, rev);
  if constexpr (kMR > 2)
    for (; m + 2 <= M; m += 2, rev = !rev)
      row_block<W, 2, ACC>(npan, K, A + m * lda, lda, P, C + m * ldc, ldc, Cin + m * ldcin, ldcin, rev);
  for (; m < M; ++m, rev = !rev) gemv<W, ACC>(npan, K, A + m * lda, P, C + m * ldc, Cin + m * ldcin, rev);
}

// Weights-outer order, for weights that do not fit the cache: each group of kNPW panels
// (K x 16 kNPW floats, in L2) is used for every row of A before the next group, so the
// weights stream from memory once per call instead of once per row tile. `rev` visits the
// groups last to first: alternating it between steps reuses what is left in L2. The tiles
// and each output's FMA chain are those of gemm_t: the results are identical.
template <class W, bool ACC>
void gemm_cols_t(int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const typename W::T* P, float* C,
                 int64_t ldc, const float* Cin, int64_t ldcin, bool rev) {
  const int64_t ng = (npan + kNPW - 1) / kNPW;
  for (int64_t i = 0; i < ng; ++i) {
    const int64_t g = rev ? ng - 1 - i : i;
    const int64_t p0 = npan * g / ng, p1 = npan * (g + 1) / ng;
    gemm_t<W, ACC>(M, p1 - p0, K, A, lda, P + p0 * K * kPanel, C + p0 * kPanel, ldc, Cin + p0 * kPanel, ldcin, rev);
  }
}

// C (+)= A @ P (acc: accumulate into C), P's elements of type W. weights_outer:
// gemm_cols_t's order, for weights beyond the cache; the same results either way.
// bias (acc only): every row's chains start from this row instead of from C (the same
// results as copying it into each row of C first).
template <class W>
inline void gemm_w(bool acc, int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const typename W::T* P,
                   float* C, int64_t ldc, bool rev = false, bool weights_outer = false, const float* bias = nullptr) {
  auto* f = weights_outer ? (acc ? &gemm_cols_t<W, true> : &gemm_cols_t<W, false>)
                          : (acc ? &gemm_t<W, true> : &gemm_t<W, false>);
  f(M, npan, K, A, lda, P, C, ldc, bias ? bias : C, bias ? 0 : ldc, rev);
}

inline void gemm(bool acc, int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const float* P, float* C,
                 int64_t ldc, bool rev = false, bool weights_outer = false, const float* bias = nullptr) {
  gemm_w<WF32>(acc, M, npan, K, A, lda, P, C, ldc, rev, weights_outer, bias);
}

}  // namespace
}  // namespace PYRNN_ISA_NS
}  // namespace pyrnn
