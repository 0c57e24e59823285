// The recurrent kernels, written once and compiled once per ISA.
//
// A per-ISA source defines PYRNN_ISA_NS (the namespace that keeps its symbols apart)
// and PYRNN_VBYTES (the vector width in bytes) and includes this file; CMake gives
// only that source its -m flags. Everything here lives in an anonymous namespace
// except the two entry points, and nothing from a shared header is instantiated
// (no std templates, only C library calls), so no code built with wide-ISA flags can
// be picked by the linker for a caller on another tier.
//
// Vectors are GCC/Clang vector extensions: the same source becomes SSE2/NEON code
// for the generic tier, AVX2+FMA for avx2 and 512-bit code for avx512.

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "pyrnn/kernels.h"

#if !defined(PYRNN_ISA_NS) || !defined(PYRNN_VBYTES)
#error "define PYRNN_ISA_NS and PYRNN_VBYTES before including kernels_impl.h"
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
constexpr int VL = VB / 4;           // floats per vector
constexpr int PV = kPanel / VL;      // vectors per 16-float panel
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

// Register tiles: MR rows x NP panels of accumulators. Sized so accumulators plus the
// loaded weights stay within the register file (32 vector registers with AVX-512, 16
// otherwise); a single row gets more panels so enough FMAs are in flight.
// kNPW: panels of a single-row tile, whose weight loads fold into the FMAs.
#if PYRNN_VBYTES >= 64
constexpr int kMR = 4, kNP = 4, kNP1 = 8, kNPW = 8;
#elif PYRNN_VBYTES >= 32
constexpr int kMR = 4, kNP = 1, kNP1 = 4, kNPW = 6;
#else
constexpr int kMR = 2, kNP = 1, kNP1 = 2, kNPW = 3;
#endif

// ---------------------------------------------------------------------------------
// Activations. These are most of a step's non-GEMM time (LSTM(50) at batch 64: about
// half of it), and a 512-bit operation issues about once per cycle here whatever it is,
// so they are written for few operations.

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
  const vf r = (vf)_mm512_maskz_rcp14_ps((__mmask16)0xFFFF, (__m512)d);  // maskz: GCC warns on rcp14's undefined passthrough
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
// approximation TensorFlow's CPU kernels use. At most 4.1e-7 from the exact value (up to
// 7 ulp just below |x| = 6, where the ulp is small; TF's own tanh measures 5.2 ulp
// there), for about 40% fewer instructions than an exp-based tanh. NaN passes through.
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

inline bool is_rowwise(Act a) { return a == Act::Softmax || a == Act::LogSoftmax || a == Act::Sparsemax; }

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

// Softmax (or log-softmax) of one row of n floats, in place, as TF computes it in float:
// exp(x - max) / sum, or (x - max) - log(sum). exp is the vector exp (< 1 ulp), zero where
// the exact value is below the smallest normal float (the flush TF's result gets); the
// sum is accumulated in double. A NaN anywhere makes the whole row NaN.
void softmax_row(float* p, int64_t n, bool log_out) {
  typedef double vd __attribute__((vector_size(2 * VB)));
  constexpr float kMinArg = -87.3365448f;  // log(FLT_MIN)
  // The last n % VL values go through a padded copy, -inf in the unused lanes (their
  // exp is 0 unless the whole row is NaN anyway).
  const int64_t nv = n / VL * VL;
  const int rem = static_cast<int>(n - nv);
  alignas(64) float tl[VL];
  for (int i = 0; i < VL; ++i) tl[i] = i < rem ? p[nv + i] : -INFINITY;
  vf mv = ld(tl);
  for (int64_t j = 0; j < nv; j += VL) {
    const vf x = ld(p + j);
    mv = sel(x > mv, x, mv);
  }
  float m = mv[0];
  for (int i = 1; i < VL; ++i) m = mv[i] > m ? mv[i] : m;
  auto ex = [m](vf x) {
    const vf d = x - m;
    return sel(d < kMinArg, vf{}, vexp_s<1>(d));  // NaN fails the compare and stays NaN
  };
  vd sv = {};
  for (int64_t j = 0; j < nv; j += VL) {
    const vf e = ex(ld(p + j));
    if (!log_out) st(p + j, e);
    sv += __builtin_convertvector(e, vd);
  }
  if (rem) {
    const vf e = ex(ld(tl));
    if (!log_out) st(tl, e);
    sv += __builtin_convertvector(e, vd);
  }
  double s = 0;
  for (int i = 0; i < VL; ++i) s += sv[i];
  if (log_out) {
    const float ls = static_cast<float>(log(s));
    for (int64_t j = 0; j < nv; j += VL) st(p + j, (ld(p + j) - m) - ls);
    for (int i = 0; i < rem; ++i) p[nv + i] = (tl[i] - m) - ls;
  } else {
    const float sf = static_cast<float>(s);
    for (int64_t j = 0; j < nv; j += VL) st(p + j, ld(p + j) / sf);
    for (int i = 0; i < rem; ++i) p[nv + i] = tl[i] / sf;
  }
}

// Activation over `rows` rows of n values, `stride` floats apart. Row-wise kinds follow
// the TF backend's definitions exactly (sparsemax included, whose threshold sums the
// cumulative sums over the support, as keras/src/backend/tensorflow/nn.py does).
// Sparsemax sorts in the n floats after each row, so it needs stride >= 2n.
void act_rows(Act a, float* v, int64_t rows, int64_t n, int64_t stride) {
  for (int64_t r = 0; r < rows; ++r) {
    float* p = v + r * stride;
    if (a == Act::Softmax || a == Act::LogSoftmax) {
      softmax_row(p, n, a == Act::LogSoftmax);
    } else if (a == Act::Sparsemax) {
      float* srt = p + n;  // insertion sort, descending: n is one layer's width
      for (int64_t j = 0; j < n; ++j) {
        float val = p[j];
        int64_t k = j;
        while (k > 0 && srt[k - 1] < val) { srt[k] = srt[k - 1]; --k; }
        srt[k] = val;
      }
      double cum = 0, cum_support = 0, k = 0;
      for (int64_t j = 0; j < n; ++j) {
        cum += srt[j];
        if ((double)srt[j] - (cum - 1.0) / (double)(j + 1) > 0) { cum_support += cum; k += 1; }
      }
      const double tau = (cum_support - 1.0) / k;
      for (int64_t j = 0; j < n; ++j) {
        const double d = (double)p[j] - tau;
        p[j] = d > 0 ? (float)d : (p[j] != p[j] ? p[j] : 0.0f);
      }
    } else {
      int64_t j = 0;
      for (; j + VL <= n; j += VL) st(p + j, act_vec(a, ld(p + j)));
      for (; j < n; ++j) {
        float t[VL] = {};
        t[0] = p[j];
        vf x = act_vec(a, ld(t));
        p[j] = x[0];
      }
    }
  }
}

// ---------------------------------------------------------------------------------
// GEMM on packed panels: C[m, panel p] (+)= sum_k A[m*lda + k] * P[p][k][0..16), panel p
// of C at C + 16p. Every output element is one FMA chain over k in order, whatever tile
// computes it and in whatever order the panels are visited, so a row's result never
// depends on the batch size or on which other rows are present.

template <int MR, int NP, bool ACC>
inline void tile(int64_t K, const float* A, int64_t lda, const float* P, int64_t pstride,
                 float* C, int64_t ldc) {
  vf acc[MR][NP * PV];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < NP * PV; ++j) acc[r][j] = ACC ? ld(C + r * ldc + j * VL) : vf{};
  for (int64_t k = 0; k < K; ++k) {
    vf b[NP * PV];
    for (int q = 0; q < NP; ++q)
      for (int v = 0; v < PV; ++v) b[q * PV + v] = ld(P + q * pstride + k * kPanel + v * VL);
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
constexpr int panels_per_tile() { return MR <= 2 ? kNP1 : kNP; }

// One group of `np` panels starting at panel p, for a tile of MR rows.
template <int MR, bool ACC>
inline void group(int np, int64_t p, int64_t K, const float* A, int64_t lda, const float* P, float* C,
                  int64_t ldc) {
  const int64_t ps = K * kPanel;
  const float* Pp = P + p * ps;
  float* Cp = C + p * kPanel;
  switch (np) {
    case 4: tile<MR, (panels_per_tile<MR>() >= 4 ? 4 : 1), ACC>(K, A, lda, Pp, ps, Cp, ldc); break;
    case 2: tile<MR, (panels_per_tile<MR>() >= 2 ? 2 : 1), ACC>(K, A, lda, Pp, ps, Cp, ldc); break;
    case 1: tile<MR, 1, ACC>(K, A, lda, Pp, ps, Cp, ldc); break;
    default: tile<MR, panels_per_tile<MR>(), ACC>(K, A, lda, Pp, ps, Cp, ldc); break;
  }
}

// All panels for MR rows: full tiles, then the remainder in halving groups (a one-panel
// tile is a single dependent FMA chain, latency-bound, so leftovers are kept together).
// `rev` visits the same groups last to first: alternating it between calls that stream
// the same weights reuses what the previous call left in L1.
template <int MR, bool ACC>
inline void row_block(int64_t npan, int64_t K, const float* A, int64_t lda, const float* P, float* C,
                      int64_t ldc, bool rev) {
  constexpr int NPB = panels_per_tile<MR>();
  const int64_t full = npan / NPB * NPB;
  int rest[3], nrest = 0;
  int64_t left = npan - full;
  if (NPB > 4 && left >= 4) { rest[nrest++] = 4; left -= 4; }
  if (NPB > 2 && left >= 2) { rest[nrest++] = 2; left -= 2; }
  if (left >= 1) rest[nrest++] = 1;  // at most one left here
  if (!rev) {
    int64_t p = 0;
    for (; p < full; p += NPB) group<MR, ACC>(NPB, p, K, A, lda, P, C, ldc);
    for (int i = 0; i < nrest; ++i) { group<MR, ACC>(rest[i], p, K, A, lda, P, C, ldc); p += rest[i]; }
  } else {
    int64_t p = npan;
    for (int i = nrest - 1; i >= 0; --i) { p -= rest[i]; group<MR, ACC>(rest[i], p, K, A, lda, P, C, ldc); }
    for (; p > 0; p -= NPB) group<MR, ACC>(NPB, p - NPB, K, A, lda, P, C, ldc);
  }
}

// A single row (batch 1): a GEMV, every panel's FMA chain independent, so the panels are
// split into as few near-equal tiles as the register file allows (up to kNPW panels).
template <int N, bool ACC>
inline void tile_row(int n, int64_t K, const float* A, const float* P, int64_t ps, float* C) {
  if (n == N) tile<1, N, ACC>(K, A, 0, P, ps, C, 0);
  else if constexpr (N > 1) tile_row<N - 1, ACC>(n, K, A, P, ps, C);
}

template <bool ACC>
inline void gemv(int64_t npan, int64_t K, const float* A, const float* P, float* C, bool rev) {
  const int64_t ps = K * kPanel;
  const int64_t ng = (npan + kNPW - 1) / kNPW;
  for (int64_t i = 0; i < ng; ++i) {
    const int64_t g = rev ? ng - 1 - i : i;
    const int64_t p0 = npan * g / ng, p1 = npan * (g + 1) / ng;
    tile_row<kNPW, ACC>(static_cast<int>(p1 - p0), K, A, P + p0 * ps, ps, C + p0 * kPanel);
  }
}

template <bool ACC>
void gemm_t(int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const float* P,
            float* C, int64_t ldc, bool rev) {
  int64_t m = 0;
  // Row blocks alternate direction too, so consecutive blocks share the panels at the turn.
  if (M > 1)
    for (; m + kMR <= M; m += kMR, rev = !rev) row_block<kMR, ACC>(npan, K, A + m * lda, lda, P, C + m * ldc, ldc, rev);
  if (kMR > 2)
    for (; m + 2 <= M; m += 2, rev = !rev) row_block<2, ACC>(npan, K, A + m * lda, lda, P, C + m * ldc, ldc, rev);
  for (; m < M; ++m, rev = !rev) gemv<ACC>(npan, K, A + m * lda, P, C + m * ldc, rev);
}

inline void gemm(bool acc, int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda,
                 const float* P, float* C, int64_t ldc, bool rev = false) {
  if (acc) gemm_t<true>(M, npan, K, A, lda, P, C, ldc, rev);
  else gemm_t<false>(M, npan, K, A, lda, P, C, ldc, rev);
}

// ---------------------------------------------------------------------------------
// Gate math. Packed gate columns (see CellDesc): full 16-unit blocks hold their G gate
// panels side by side; the last H % 16 units sit after them gate by gate, unpadded.

// Column of gate g, unit j, in the packed layout of G gates over H units.
inline int64_t gidx(int G, int64_t H, int g, int64_t j) {
  const int64_t nf = H / kPanel;
  if (j < nf * kPanel) return (j >> 4) * G * kPanel + g * kPanel + (j & 15);
  return nf * G * kPanel + g * (H - nf * kPanel) + (j - nf * kPanel);
}

// 16 units: gate g's pre-activations at zb + 16g (bias and x@W included); hb likewise
// holds GRU's h@U (reset_after: all 3 gates plus the recurrent bias; else z and r); u2:
// GRU reset_after=False, (r*h)@U_h. The state pointers point at these 16 units. Padded
// units compute harmless finite values that are never read (GEMMs use K = H, and
// outputs copy H units). STD: Keras's default tanh/sigmoid pair, inlined.
template <bool STD>
PYRNN_INLINE void block(const CellDesc& L, int phase, const float* zb, const float* hb, const float* u2,
                        const float* hprev, const float* cprev, float* hn, float* cn, float* zsave, float* rh) {
  auto act = [&](vf x) { return STD ? vtanh(x) : act_vec(L.act, x); };
  auto rec = [&](vf x) { return STD ? vsigmoid(x) : act_vec(L.rec_act, x); };
  for (int v = 0; v < PV; ++v) {
    const int o = v * VL;
    switch (L.kind) {
      case CellKind::SimpleRNN:
        st(hn + o, act(ld(zb + o)));
        break;
      case CellKind::LSTM: {
        const vf i = rec(ld(zb + o));
        const vf f = rec(ld(zb + kPanel + o));
        const vf g = act(ld(zb + 2 * kPanel + o));
        const vf og = rec(ld(zb + 3 * kPanel + o));
        const vf c = f * ld(cprev + o) + i * g;
        st(cn + o, c);
        st(hn + o, og * act(c));
        break;
      }
      case CellKind::GRU:
        if (L.reset_after) {
          const vf zg = rec(ld(zb + o) + ld(hb + o));
          const vf rg = rec(ld(zb + kPanel + o) + ld(hb + kPanel + o));
          const vf hh = act(ld(zb + 2 * kPanel + o) + rg * ld(hb + 2 * kPanel + o));
          st(hn + o, zg * ld(hprev + o) + (1.0f - zg) * hh);
        } else if (phase == 0) {
          const vf zg = rec(ld(zb + o) + ld(hb + o));
          const vf rg = rec(ld(zb + kPanel + o) + ld(hb + kPanel + o));
          st(zsave + o, zg);
          st(rh + o, rg * ld(hprev + o));
        } else {
          const vf hh = act(ld(zb + 2 * kPanel + o) + ld(u2 + o));
          const vf zg = ld(zsave + o);
          st(hn + o, zg * ld(hprev + o) + (1.0f - zg) * hh);
        }
        break;
    }
  }
}

// The tail's G gate runs of r values, spread into G zero-padded 16-float panels.
inline void spread_tail(float* dst, const float* src, int G, int64_t r) {
  memset(dst, 0, sizeof(float) * G * kPanel);
  for (int g = 0; g < G; ++g) memcpy(dst + g * kPanel, src + g * r, sizeof(float) * r);
}

// A tail whose G runs of r values fit one panel (G*r <= 16: LSTM(50)'s 2 units are 8
// values) is activated as that one panel, each activation once for all its gates, and
// the gates are then read back shifted to the units' lanes: 3 activation panels instead
// of 5 for LSTM, 2 instead of 3 for GRU. Lanes from r on are never read; the cell state,
// GRU's h and r*h are zeroed there, and so is LSTM's h with AVX-512 (elsewhere it is an
// output gate times act(0)).
template <bool STD>
PYRNN_INLINE void tail_small(const CellDesc& L, int phase, int64_t r, const float* zt, const float* ht,
                             const float* u2, const float* hprev, const float* cprev, float* hn, float* cn,
                             float* zsave, float* rh) {
  auto act = [&](vf x) { return STD ? vtanh(x) : act_vec(L.act, x); };
  auto rec = [&](vf x) { return STD ? vsigmoid(x) : act_vec(L.rec_act, x); };
#if defined(__AVX512F__) && PYRNN_VBYTES == 64
  // One vector per panel: the gates are shifted onto the units' lanes in registers
  // (a two-source permute with zeros beyond lane 15), not through a store and an
  // overlapping reload, which the store-to-load forwarding cannot serve.
  const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const int ri = static_cast<int>(r);
  auto sh = [&](vf v, int g) {  // lanes g*r.. of v down to lane 0
    return (vf)_mm512_permutex2var_ps((__m512)v, _mm512_add_epi32(lane, _mm512_set1_epi32(g * ri)),
                                      _mm512_setzero_ps());
  };
  const __mmask16 keep = static_cast<__mmask16>((1u << ri) - 1);
  auto kz = [keep](vf v) { return (vf)_mm512_maskz_mov_ps(keep, (__m512)v); };
  const vf zv = ld(zt);
  if (L.kind == CellKind::LSTM) {
    const vf a = rec(zv), b = act(zv);
    const vf cv = kz(sh(a, 1) * ld(cprev) + a * sh(b, 2));
    st(cn, cv);
    st(hn, kz(sh(a, 3) * act(cv)));
  } else if (L.reset_after) {
    const vf hv = ld(ht), a = rec(zv + hv);
    const vf hh = act(sh(zv, 2) + sh(a, 1) * sh(hv, 2));
    st(hn, kz(a * ld(hprev) + (1.0f - a) * hh));
  } else if (phase == 0) {
    const vf a = rec(zv + ld(ht));
    st(zsave, a);
    st(rh, kz(sh(a, 1) * ld(hprev)));
  } else {
    const vf zg = ld(zsave);
    const vf hh = act(sh(zv, 2) + ld(u2));
    st(hn, kz(zg * ld(hprev) + (1.0f - zg) * hh));
  }
#else
  alignas(64) static const int32_t kLane[kPanel] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
  // a: rec(.) of the panel; b: act(.) (LSTM) or the x-side candidate values (GRU);
  // c: GRU's h-side candidate values. Each followed by zeros, read at offsets <= 3r < 16.
  alignas(64) float a[2 * kPanel], b[2 * kPanel], c[2 * kPanel];
  const bool lstm = L.kind == CellKind::LSTM, ra = L.reset_after;
  for (int v = 0; v < PV; ++v) {
    const int o = v * VL;
    st(a + kPanel + o, vf{});
    st(b + kPanel + o, vf{});
    st(c + kPanel + o, vf{});
    const vf zv = ld(zt + o);
    if (lstm) {
      st(a + o, rec(zv));
      st(b + o, act(zv));
    } else {
      if (ra || phase == 0) st(a + o, rec(zv + ld(ht + o)));  // z and r gates
      st(b + o, zv);
      st(c + o, ra ? ld(ht + o) : vf{});
    }
  }
  for (int v = 0; v < PV; ++v) {
    const int o = v * VL;
    vi lane;
    memcpy(&lane, kLane + o, sizeof(lane));
    const vi keep = lane < static_cast<int32_t>(r);
    if (lstm) {
      const vf cv = sel(keep, ld(a + r + o) * ld(cprev + o) + ld(a + o) * ld(b + 2 * r + o), vf{});
      st(cn + o, cv);
      st(hn + o, ld(a + 3 * r + o) * act(cv));
    } else if (ra) {
      const vf zg = ld(a + o);
      const vf hh = act(ld(b + 2 * r + o) + ld(a + r + o) * ld(c + 2 * r + o));
      st(hn + o, sel(keep, zg * ld(hprev + o) + (1.0f - zg) * hh, vf{}));
    } else if (phase == 0) {
      st(zsave + o, ld(a + o));
      st(rh + o, sel(keep, ld(a + r + o) * ld(hprev + o), vf{}));
    } else {
      const vf zg = ld(zsave + o);
      const vf hh = act(ld(b + 2 * r + o) + ld(u2 + o));
      st(hn + o, sel(keep, zg * ld(hprev + o) + (1.0f - zg) * hh, vf{}));
    }
  }
#endif
}

// Fused path: every activation is elementwise, so each block is finished while its
// gate values are in registers.
// Blocks [b0, b1) of 16 units, then the H % 16 tail when `tail`.
template <bool STD>
void step_fused_t(const CellDesc& L, int phase, const float* z, const float* hz, const float* u2,
                  const float* hprev, const float* cprev, float* hn, float* cn, float* zsave, float* rh,
                  int64_t b0, int64_t b1, bool tail) {
  const int G = L.G, hg = L.kind == CellKind::GRU ? (L.reset_after ? 3 : 2) : 0;
  const int64_t nf = L.H / kPanel, r = L.H - nf * kPanel;
  for (int64_t b = b0; b < b1; ++b) {
    const int64_t o = b * kPanel;
    block<STD>(L, phase, z + b * G * kPanel, hz + b * hg * kPanel, u2 + o, hprev + o, cprev + o, hn + o,
               cn + o, zsave + o, rh + o);
  }
  if (tail && r) {
    const int64_t o = nf * kPanel;
    const float* zt = z + nf * G * kPanel;
    const float* ht = hz + nf * hg * kPanel;
    if (G == 1) {  // one gate: the tail already is a zero-padded panel
      block<STD>(L, phase, zt, ht, u2 + o, hprev + o, cprev + o, hn + o, cn + o, zsave + o, rh + o);
    } else if (G * r <= kPanel) {
      tail_small<STD>(L, phase, r, zt, ht, u2 + o, hprev + o, cprev + o, hn + o, cn + o, zsave + o, rh + o);
    } else {
      alignas(64) float zs[4 * kPanel], hs[3 * kPanel];
      spread_tail(zs, zt, G, r);
      if (hg) spread_tail(hs, ht, hg, r);
      block<STD>(L, phase, zs, hs, u2 + o, hprev + o, cprev + o, hn + o, cn + o, zsave + o, rh + o);
    }
  }
}

inline void step_fused(const CellDesc& L, int phase, const float* z, const float* hz, const float* u2,
                       const float* hprev, const float* cprev, float* hn, float* cn, float* zsave, float* rh,
                       int64_t b0, int64_t b1, bool tail) {
  if (L.act == Act::Tanh && L.rec_act == Act::Sigmoid)
    step_fused_t<true>(L, phase, z, hz, u2, hprev, cprev, hn, cn, zsave, rh, b0, b1, tail);
  else
    step_fused_t<false>(L, phase, z, hz, u2, hprev, cprev, hn, cn, zsave, rh, b0, b1, tail);
}

// Staged path, for row-wise activations (softmax & co. over the units of a gate):
// each gate's pre-activations are gathered into a contiguous row, activated as a
// whole, then combined. `s` has room for 8*Hp floats.
void step_staged(const CellDesc& L, int phase, const float* z, const float* hz, const float* u2,
                 const float* hprev, const float* cprev, float* hn, float* cn, float* zsave, float* rh,
                 float* s) {
  const int G = L.G;
  const int64_t H = L.H, Hp = L.Hp;
  float* a = s;           // each stage row has 2*Hp floats (sparsemax sorts after the row)
  float* b = s + 2 * Hp;
  float* c = s + 4 * Hp;
  float* d = s + 6 * Hp;
  switch (L.kind) {
    case CellKind::SimpleRNN:
      for (int64_t j = 0; j < H; ++j) a[j] = z[gidx(G, H, 0, j)];
      act_rows(L.act, a, 1, H, H);
      for (int64_t j = 0; j < H; ++j) hn[j] = a[j];
      break;
    case CellKind::LSTM:
      for (int64_t j = 0; j < H; ++j) {
        a[j] = z[gidx(G, H, 0, j)]; b[j] = z[gidx(G, H, 1, j)];
        c[j] = z[gidx(G, H, 2, j)]; d[j] = z[gidx(G, H, 3, j)];
      }
      act_rows(L.rec_act, a, 1, H, H); act_rows(L.rec_act, b, 1, H, H);
      act_rows(L.act, c, 1, H, H); act_rows(L.rec_act, d, 1, H, H);
      for (int64_t j = 0; j < H; ++j) { cn[j] = b[j] * cprev[j] + a[j] * c[j]; c[j] = cn[j]; }
      act_rows(L.act, c, 1, H, H);
      for (int64_t j = 0; j < H; ++j) hn[j] = d[j] * c[j];
      break;
    case CellKind::GRU: {
      const int hg = L.reset_after ? 3 : 2;
      if (L.reset_after || phase == 0) {
        for (int64_t j = 0; j < H; ++j) {
          a[j] = z[gidx(G, H, 0, j)] + hz[gidx(hg, H, 0, j)];
          b[j] = z[gidx(G, H, 1, j)] + hz[gidx(hg, H, 1, j)];
        }
        act_rows(L.rec_act, a, 1, H, H); act_rows(L.rec_act, b, 1, H, H);
        if (!L.reset_after) {
          for (int64_t j = 0; j < H; ++j) { zsave[j] = a[j]; rh[j] = b[j] * hprev[j]; }
          break;
        }
        for (int64_t j = 0; j < H; ++j) c[j] = z[gidx(G, H, 2, j)] + b[j] * hz[gidx(hg, H, 2, j)];
      } else {
        for (int64_t j = 0; j < H; ++j) { a[j] = zsave[j]; c[j] = z[gidx(G, H, 2, j)] + u2[j]; }
      }
      act_rows(L.act, c, 1, H, H);
      for (int64_t j = 0; j < H; ++j) hn[j] = a[j] * hprev[j] + (1.0f - a[j]) * c[j];
      break;
    }
  }
}

// Flush denormals inside the kernel and give the caller its floating-point mode back.
struct FlushDenormals {
#ifdef PYRNN_X86
  unsigned saved;
  FlushDenormals() : saved(_mm_getcsr()) { _mm_setcsr(saved | 0x8040u); }  // FTZ | DAZ
  ~FlushDenormals() { _mm_setcsr(saved); }
#endif
};

inline void copy_row(float* dst, const float* src, int64_t n) { memcpy(dst, src, (size_t)n * sizeof(float)); }

}  // namespace

// One recurrent layer over the whole sequence.
//
// Each timestep runs in blocks of rows small enough that their gate pre-activations stay
// in L1 from the GEMMs through the gate math and the outputs. Inputs of at most
// kFoldInputs features are projected inside the step: for LSTM and SimpleRNN as part of
// the step's one GEMM (CellDesc::XS: each h row is preceded by [1, x_t]), for GRU as one
// more short GEMM on the block. Wider inputs are projected for a chunk of timesteps at
// once, before the recurrence, unless the caller passes stacked panels (XS > 0) for them
// too.
//
// In a team (RunArgs::team > 1) each member computes only its own units' gate columns
// and gate math, so its share of the weights stays in its own core's caches; the
// members meet at a barrier once per step (twice for GRU reset_after=False) and share
// every buffer. Per element the arithmetic is the one-thread arithmetic.
void run(const CellDesc& L, const RunArgs& a) {
  FlushDenormals ftz;
  const int64_t B = a.B, T = a.T, D = L.D, H = L.H, Hp = L.Hp;
  const int64_t ldz = L.Z, ldh = L.Zh;
  const bool fold = D <= kFoldInputs || L.XS;  // inputs projected inside each step
  const int64_t tc = fold ? 1 : (a.tchunk < 1 ? 1 : (a.tchunk > T ? T : a.tchunk));
  const bool lstm = L.kind == CellKind::LSTM, gru = L.kind == CellKind::GRU;
  const bool staged = is_rowwise(L.act) || is_rowwise(L.rec_act);
  const int hg = gru ? (L.reset_after ? 3 : 2) : 0;
  // h rows: [pad, 1, x_t (D), h (Hp)] when stacked, h starting on a panel boundary.
  const int64_t xs = L.XS, hoff = (xs + kPanel - 1) / kPanel * kPanel, lds = hoff + Hp;
  const int64_t ku = xs + H;  // rows of U's panels
  int64_t rb = (4096 / ldz) / 4 * 4;  // rows per block: about 16 KB of gate pre-activations
  rb = rb < 4 ? 4 : (rb > B ? B : rb);

  // This member's share: full unit blocks [b0, b1), and the tail if it has the last
  // block; its columns of a G-gate layout are panels [p0(G), p0(G) + np(G)).
  // The tail counts as one more block when splitting.
  const int team = a.team < 1 ? 1 : a.team, rank = team == 1 ? 0 : a.rank;
  const int64_t nf = H / kPanel, nblk = nf + (H % kPanel ? 1 : 0);
  const int64_t bb0 = nblk * rank / team, bb1 = nblk * (rank + 1) / team;
  const int64_t b0 = bb0 < nf ? bb0 : nf, b1 = bb1 < nf ? bb1 : nf;
  const bool mine_tail = bb1 == nblk;
  auto p0 = [&](int g) { return b0 * g; };
  auto np = [&](int g, int64_t cols) { return (b1 - b0) * g + (mine_tail ? cols / kPanel - nf * g : 0); };
  const int64_t zp0 = p0(L.G), znp = np(L.G, ldz);
  const int64_t hp0 = p0(hg), hnp = gru ? np(hg, ldh) : 0;
  const int64_t up0 = p0(1), unp = np(1, Hp);
  const int64_t u0 = b0 * kPanel, u1 = mine_tail ? Hp : b1 * kPanel;  // state columns
  const int64_t o1 = u1 < H ? u1 : H;                                   // output units [u0, o1)
  auto sync = [&] { if (team > 1) a.sync(a.sync_ctx, rank); };
  // Columns [c0, c0 + n) of a row: this member's part of a packed layout.
  auto copy_cols = [](float* dst, const float* src, int64_t c0, int64_t n) { copy_row(dst + c0, src + c0, n); };

  float* s = a.scratch;
  float* xw = s; s += tc * B * ldz;
  float* hc = s; s += B * lds;
  float* hnx = s; s += B * lds;
  float* cc = s; s += B * Hp;
  float* cnx = s; s += B * Hp;
  float* hz = s; s += B * ldh;
  float* u2 = s; s += B * Hp;
  float* zsave = s; s += B * Hp;
  float* rh = s; s += B * Hp;
  float* prev = s; s += B * Hp;
  float* stage = s;
  auto hrow = [&](float* buf, int64_t b) { return buf + b * lds + hoff; };
  // Stacked: x at timestep index k (processing order) into the rows' [1, x] prefix.
  auto put_x = [&](float* buf, int64_t r0, int64_t nb, int64_t k) {
    const int64_t t = a.go_backwards ? T - 1 - k : k;
    for (int64_t b = r0; b < r0 + nb; ++b) {
      float* dst = hrow(buf, b) - D;
      const float* src = a.x + (b * T + t) * D;
      if (D == 1) dst[0] = src[0];  // the common case, without a memcpy call per row
      else copy_row(dst, src, D);
    }
  };

  if (rank == 0) {
    memset(hc, 0, sizeof(float) * 2 * B * (lds + Hp));  // hc, hnx, cc, cnx
    memset(u2, 0, sizeof(float) * 4 * B * Hp);           // u2, zsave, rh, prev
    for (int64_t b = 0; b < B; ++b) {
      if (xs) hrow(hc, b)[-xs] = hrow(hnx, b)[-xs] = 1.0f;
      if (a.h0) copy_row(hrow(hc, b), a.h0 + b * H, H);
      if (lstm && a.c0) copy_row(cc + b * Hp, a.c0 + b * H, H);
      if (a.prev0) copy_row(prev + b * Hp, a.prev0 + b * H, H);
    }
    if (xs) put_x(hc, 0, B, 0);
  }
  sync();

  for (int64_t k0 = 0; k0 < T; k0 += tc) {
    const int64_t n = (T - k0) < tc ? (T - k0) : tc;
    if (!fold) {
      // Input projection for steps k0..k0+n-1 (processing order), layout [step][b][Z].
      const float* W = L.W + zp0 * D * kPanel;
      for (int64_t r = 0; r < n * B; ++r) copy_cols(xw + r * ldz, L.bias_x, zp0 * kPanel, znp * kPanel);
      if (B >= n) {
        for (int64_t kk = 0; kk < n; ++kk) {
          const int64_t k = k0 + kk, t = a.go_backwards ? T - 1 - k : k;
          gemm(true, B, znp, D, a.x + t * D, T * D, W, xw + kk * B * ldz + zp0 * kPanel, ldz);
        }
      } else {
        for (int64_t b = 0; b < B; ++b) {
          const int64_t t = a.go_backwards ? T - 1 - k0 : k0;
          const int64_t lda = a.go_backwards ? -D : D;
          gemm(true, n, znp, D, a.x + (b * T + t) * D, lda, W, xw + b * ldz + zp0 * kPanel, B * ldz);
        }
      }
    }

    for (int64_t kk = 0; kk < n; ++kk) {
      const int64_t k = k0 + kk, t = a.go_backwards ? T - 1 - k : k;
      const bool rev = k & 1;  // alternate the weight streaming order between steps
      for (int64_t r0 = 0; r0 < B; r0 += rb) {
        const int64_t nb = (B - r0) < rb ? (B - r0) : rb;
        float* z = fold ? xw : xw + (kk * B + r0) * ldz;
        if (fold && !xs) {
          for (int64_t b = 0; b < nb; ++b) copy_cols(z + b * ldz, L.bias_x, zp0 * kPanel, znp * kPanel);
          gemm(true, nb, znp, D, a.x + (r0 * T + t) * D, T * D, L.W + zp0 * D * kPanel, z + zp0 * kPanel, ldz,
               rev);
        }
        float* hcb = hrow(hc, r0);
        float* hzb = hz + r0 * ldh;
        float* u2b = u2 + r0 * Hp;
        float* rhb = rh + r0 * Hp;
        // Recurrent projection for the block's rows (stacked: the whole pre-activation).
        if (!gru) {
          gemm(!xs, nb, znp, ku, hcb - xs, lds, L.U + zp0 * ku * kPanel, z + zp0 * kPanel, ldz, rev);
        } else {
          if (L.reset_after)
            for (int64_t b = 0; b < nb; ++b) copy_cols(hzb + b * ldh, L.bias_h, hp0 * kPanel, hnp * kPanel);
          gemm(L.reset_after, nb, hnp, H, hcb, lds, L.U + hp0 * H * kPanel, hzb + hp0 * kPanel, ldh, rev);
        }
        const int phases = (gru && !L.reset_after) ? 2 : 1;
        for (int ph = 0; ph < phases; ++ph) {
          if (ph == 1) {  // candidate: (r * h) @ U_h, which needs every member's r * h
            sync();
            gemm(false, nb, unp, H, rhb, Hp, L.U2 + up0 * H * kPanel, u2b + up0 * kPanel, Hp, rev);
          }
          for (int64_t b = 0; b < nb; ++b) {
            const int64_t o = (r0 + b) * Hp;
            float* hp = hrow(hc, r0 + b);
            float* hn = hrow(hnx, r0 + b);
            if (staged)  // only ever alone: row-wise activations need the whole gate
              step_staged(L, ph, z + b * ldz, hzb + b * ldh, u2 + o, hp, cc + o, hn, cnx + o, zsave + o, rh + o,
                          stage);
            else
              step_fused(L, ph, z + b * ldz, hzb + b * ldh, u2 + o, hp, cc + o, hn, cnx + o, zsave + o, rh + o,
                         b0, b1, mine_tail);
          }
        }
        // Keras's masked-step rule: a masked sample keeps its states; its output repeats
        // the last valid output (zeros before the first one) or is zero.
        for (int64_t b = r0; b < r0 + nb; ++b) {
          const bool valid = !a.mask || a.mask[b * T + t];
          float* hn_b = hrow(hnx, b);
          if (!valid) {
            copy_cols(hn_b, hrow(hc, b), u0, u1 - u0);
            if (lstm) copy_cols(cnx + b * Hp, cc + b * Hp, u0, u1 - u0);
          }
          if (a.return_sequences && o1 > u0) {
            float* yo = a.y + (b * T + k) * H;
            if (valid) copy_cols(yo, hn_b, u0, o1 - u0);
            else if (a.zero_output_for_mask) memset(yo + u0, 0, sizeof(float) * (o1 - u0));
            else copy_cols(yo, prev + b * Hp, u0, o1 - u0);
          }
          if (a.mask && valid && o1 > u0) copy_cols(prev + b * Hp, hn_b, u0, o1 - u0);
        }
        if (xs && rank == 0 && k + 1 < T) put_x(hnx, r0, nb, k + 1);  // read after the barrier
      }
      sync();  // the next step reads every member's h
      float* tmp = hc; hc = hnx; hnx = tmp;
      tmp = cc; cc = cnx; cnx = tmp;
    }
  }

  if (rank == 0)
    for (int64_t b = 0; b < B; ++b) {
      const float* last = a.mask ? prev + b * Hp : hrow(hc, b);  // the last valid output
      if (!a.return_sequences) copy_row(a.y + b * H, last, H);
      copy_row(a.h_out + b * H, hrow(hc, b), H);
      if (lstm && a.c_out) copy_row(a.c_out + b * H, cc + b * Hp, H);
      if (a.prev_out) copy_row(a.prev_out + b * H, last, H);
    }
}

void activation(Act act, float* data, int64_t rows, int64_t n, int64_t stride) {
  FlushDenormals ftz;
  act_rows(act, data, rows, n, stride);
}

void gemm_packed(bool acc, int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const float* P,
                 float* C, int64_t ldc) {
  FlushDenormals ftz;
  gemm(acc, M, npan, K, A, lda, P, C, ldc);
}

}  // namespace PYRNN_ISA_NS
}  // namespace pyrnn
