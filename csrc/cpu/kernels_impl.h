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
#if PYRNN_VBYTES >= 64
constexpr int kMR = 4, kNP = 4, kNP1 = 8;
#elif PYRNN_VBYTES >= 32
constexpr int kMR = 4, kNP = 1, kNP1 = 4;
#else
constexpr int kMR = 2, kNP = 1, kNP1 = 2;
#endif

// ---------------------------------------------------------------------------------
// Activations.
// exp: Cephes expf (range reduction by ln2 split in two, degree-6 polynomial, < 1 ulp
// on its range); the input is clamped to [-87, 88] where that is harmless for the
// functions built on it, and NaN passes through the comparisons untouched.

inline vf sel(vi m, vf a, vf b) { return (vf)((m & (vi)a) | (~m & (vi)b)); }

inline vf vexp(vf x) {
  x = sel(x > 88.0f, splat(88.0f), x);
  x = sel(x < -87.0f, splat(-87.0f), x);
  vf fx = x * 1.44269504088896341f;
  fx = (fx + 12582912.0f) - 12582912.0f;  // round to nearest integer (|fx| < 2^22)
  vf r = x - fx * 0.693359375f;
  r = r - fx * -2.12194440e-4f;
  vf y = splat(1.9875691500e-4f);
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * (r * r) + r + 1.0f;
  vi n = __builtin_convertvector(fx, vi);
  vi e = (n + 127) << 23;
  return y * (vf)e;
}

inline vf vsigmoid(vf x) { return 1.0f / (1.0f + vexp(-x)); }

// Cephes tanhf: an odd polynomial below |x| = 0.625, 1 - 2/(e^{2|x|}+1) above.
inline vf vtanh(vf x) {
  vi sign = (vi)x & (int32_t)0x80000000;
  vf ax = (vf)((vi)x & (int32_t)0x7fffffff);
  vf z = x * x;
  vf p = splat(-5.70498872745e-3f);
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  vf small = p * z * x + x;
  vf big = 1.0f - 2.0f / (vexp(ax + ax) + 1.0f);
  big = (vf)((vi)big | sign);
  return sel(ax < 0.625f, small, big);
}

inline vf vmax0(vf x) { return sel(x < 0.0f, splat(0.0f), x); }  // NaN stays NaN
inline vf vclip(vf x, float lo, float hi) {
  x = sel(x < lo, splat(lo), x);
  return sel(x > hi, splat(hi), x);
}

// Scalar definitions, evaluated in double and rounded once: used for the less common
// activations, which TF computes elementwise in float32 to a few ulp.
inline double dsoftplus(double x) { return x > 0 ? x + log1p(exp(-x)) : log1p(exp(x)); }

float act_scalar(Act a, float xf) {
  const double x = xf;
  switch (a) {
    case Act::Linear: return xf;
    case Act::Tanh: return (float)tanh(x);
    case Act::Sigmoid: return (float)(1.0 / (1.0 + exp(-x)));
    case Act::HardSigmoid: { double v = x / 6.0 + 0.5; return (float)(v < 0 ? 0 : (v > 1 ? 1 : v)); }
    case Act::HardSigmoidK2: { double v = 0.2 * x + 0.5; return (float)(v < 0 ? 0 : (v > 1 ? 1 : v)); }
    case Act::Relu: return xf < 0.0f ? 0.0f : xf;
    case Act::Relu6: return xf < 0.0f ? 0.0f : (xf > 6.0f ? 6.0f : xf);
    case Act::LeakyRelu: return xf < 0.0f ? (float)(0.2 * x) : xf;
    case Act::Elu: return xf > 0.0f ? xf : (float)expm1(x);
    case Act::Selu: return (float)(1.0507009873554805 * (x > 0 ? x : 1.6732632423543772 * expm1(x)));
    case Act::Softplus: return (float)dsoftplus(x);
    case Act::Softsign: return (float)(x / (1.0 + fabs(x)));
    case Act::Silu: return (float)(x / (1.0 + exp(-x)));
    case Act::Gelu: return (float)(0.5 * x * (1.0 + erf(x * 0.70710678118654752440)));
    case Act::Exponential: return (float)exp(x);
    case Act::HardSilu: { double v = (x + 3.0) / 6.0; v = v < 0 ? 0 : (v > 1 ? 1 : v); return (float)(x * v); }
    case Act::Mish: return (float)(x * tanh(dsoftplus(x)));
    case Act::HardTanh: return xf < -1.0f ? -1.0f : (xf > 1.0f ? 1.0f : xf);
    case Act::LogSigmoid: return (float)(-dsoftplus(-x));
    case Act::Celu: return (float)((x > 0 ? x : 0.0) + expm1(x < 0 ? x : 0.0));
    case Act::TanhShrink: return (float)(x - tanh(x));
    case Act::SoftShrink: return xf > 0.5f ? (float)(x - 0.5) : (xf < -0.5f ? (float)(x + 0.5) : (xf != xf ? xf : 0.0f));
    case Act::HardShrink: return fabsf(xf) > 0.5f ? xf : (xf != xf ? xf : 0.0f);
    case Act::SparsePlus: return xf <= -1.0f ? 0.0f : (xf < 1.0f ? (float)(0.25 * (x + 1) * (x + 1)) : xf);
    case Act::SparseSigmoid: return xf <= -1.0f ? 0.0f : (xf >= 1.0f ? 1.0f : (float)(0.5 * (x + 1)));
    case Act::Squareplus: return (float)((x + sqrt(x * x + 4.0)) * 0.5);
    default: return xf;  // row-wise kinds never reach here (see act_row)
  }
}

inline bool is_rowwise(Act a) { return a == Act::Softmax || a == Act::LogSoftmax || a == Act::Sparsemax; }

// Elementwise activation of one vector. The common gate activations are vector code;
// the rest go lane by lane through act_scalar.
inline vf act_vec(Act a, vf x) {
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

// Activation over `rows` rows of n values, `stride` floats apart. Row-wise kinds follow
// the TF backend's definitions exactly (sparsemax included, whose threshold sums the
// cumulative sums over the support, as keras/src/backend/tensorflow/nn.py does).
// Sparsemax sorts in the n floats after each row, so it needs stride >= 2n.
void act_rows(Act a, float* v, int64_t rows, int64_t n, int64_t stride) {
  for (int64_t r = 0; r < rows; ++r) {
    float* p = v + r * stride;
    if (a == Act::Softmax || a == Act::LogSoftmax) {
      double m = -INFINITY;
      for (int64_t j = 0; j < n; ++j) m = p[j] > m ? p[j] : m;
      double s = 0;
      for (int64_t j = 0; j < n; ++j) s += exp((double)p[j] - m);
      if (a == Act::Softmax) {
        for (int64_t j = 0; j < n; ++j) p[j] = (float)(exp((double)p[j] - m) / s);
      } else {
        const double ls = log(s);
        for (int64_t j = 0; j < n; ++j) p[j] = (float)((double)p[j] - m - ls);
      }
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
// GEMM on packed panels: C[m, panel p] (+)= sum_k A[m*lda + k] * P[p][k][0..16).
// Panel p of C starts at C + p*cps (cps = 16 for plain row-major C; larger when C's
// panels are interleaved with other gates). Every output element is one FMA chain
// over k in order, whatever tile computes it, so a row's result never depends on the
// batch size or on which other rows are present.

template <int MR, int NP, bool ACC>
inline void tile(int64_t K, const float* A, int64_t lda, const float* P, int64_t pstride,
                 float* C, int64_t ldc, int64_t cps) {
  vf acc[MR][NP * PV];
  for (int r = 0; r < MR; ++r)
    for (int q = 0; q < NP; ++q)
      for (int v = 0; v < PV; ++v)
        acc[r][q * PV + v] = ACC ? ld(C + r * ldc + q * cps + v * VL) : vf{};
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
    for (int q = 0; q < NP; ++q)
      for (int v = 0; v < PV; ++v) st(C + r * ldc + q * cps + v * VL, acc[r][q * PV + v]);
}

// Panels per tile for a given row count: as many independent accumulator chains as the
// register file holds (one or two rows get more panels so enough FMAs are in flight).
template <int MR>
constexpr int panels_per_tile() { return MR <= 2 ? kNP1 : kNP; }

template <int MR, bool ACC>
inline void row_block(int64_t npan, int64_t K, const float* A, int64_t lda, const float* P,
                      float* C, int64_t ldc, int64_t cps) {
  constexpr int NPB = panels_per_tile<MR>();
  const int64_t ps = K * kPanel;
  int64_t p = 0;
  for (; p + NPB <= npan; p += NPB) tile<MR, NPB, ACC>(K, A, lda, P + p * ps, ps, C + p * cps, ldc, cps);
  // Remainder panels in halving groups: a one-panel tile is a single dependent FMA
  // chain, latency-bound, so leftovers are kept together where the tile allows.
  if (NPB > 4 && p + 4 <= npan) { tile<MR, (NPB > 4 ? 4 : 1), ACC>(K, A, lda, P + p * ps, ps, C + p * cps, ldc, cps); p += 4; }
  if (NPB > 2 && p + 2 <= npan) { tile<MR, (NPB > 2 ? 2 : 1), ACC>(K, A, lda, P + p * ps, ps, C + p * cps, ldc, cps); p += 2; }
  for (; p < npan; ++p) tile<MR, 1, ACC>(K, A, lda, P + p * ps, ps, C + p * cps, ldc, cps);
}

template <bool ACC>
void gemm_t(int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const float* P,
            float* C, int64_t ldc, int64_t cps) {
  int64_t m = 0;
  if (M > 1)
    for (; m + kMR <= M; m += kMR) row_block<kMR, ACC>(npan, K, A + m * lda, lda, P, C + m * ldc, ldc, cps);
  if (kMR > 2)
    for (; m + 2 <= M; m += 2) row_block<2, ACC>(npan, K, A + m * lda, lda, P, C + m * ldc, ldc, cps);
  for (; m < M; ++m) row_block<1, ACC>(npan, K, A + m * lda, lda, P, C + m * ldc, ldc, cps);
}

inline void gemm(bool acc, int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda,
                 const float* P, float* C, int64_t ldc, int64_t cps) {
  if (acc) gemm_t<true>(M, npan, K, A, lda, P, C, ldc, cps);
  else gemm_t<false>(M, npan, K, A, lda, P, C, ldc, cps);
}

// ---------------------------------------------------------------------------------
// Gate math for one sample. `z` holds the G interleaved pre-activation panels per
// 16-unit block (bias and x@W included); for GRU, `hz` holds h@U (+ recurrent bias).

inline int64_t gidx(int G, int g, int64_t j) { return (j >> 4) * G * kPanel + g * kPanel + (j & 15); }

// Fused path: every activation is elementwise, so each block is finished while its
// gate values are in registers. Padded units compute harmless finite values that are
// never read (the matching rows of U are zero and outputs copy only H units).
void step_fused(const CellDesc& L, int phase, const float* z, const float* hz, const float* hprev,
                const float* cprev, float* hn, float* cn, float* zsave, float* rh) {
  const int G = L.G;
  const int64_t nb = L.Hp / kPanel;
  for (int64_t hb = 0; hb < nb; ++hb) {
    for (int v = 0; v < PV; ++v) {
      const int64_t off = hb * kPanel + v * VL;
      const float* zb = z + hb * G * kPanel + v * VL;
      switch (L.kind) {
        case CellKind::SimpleRNN:
          st(hn + off, act_vec(L.act, ld(zb)));
          break;
        case CellKind::LSTM: {
          const vf i = act_vec(L.rec_act, ld(zb));
          const vf f = act_vec(L.rec_act, ld(zb + kPanel));
          const vf g = act_vec(L.act, ld(zb + 2 * kPanel));
          const vf o = act_vec(L.rec_act, ld(zb + 3 * kPanel));
          const vf c = f * ld(cprev + off) + i * g;
          st(cn + off, c);
          st(hn + off, o * act_vec(L.act, c));
          break;
        }
        case CellKind::GRU: {
          const float* hb_ = hz + hb * (L.reset_after ? 3 : 2) * kPanel + v * VL;
          if (L.reset_after) {
            const vf zg = act_vec(L.rec_act, ld(zb) + ld(hb_));
            const vf rg = act_vec(L.rec_act, ld(zb + kPanel) + ld(hb_ + kPanel));
            const vf hh = act_vec(L.act, ld(zb + 2 * kPanel) + rg * ld(hb_ + 2 * kPanel));
            const vf hp = ld(hprev + off);
            st(hn + off, zg * hp + (1.0f - zg) * hh);
          } else if (phase == 0) {
            const vf zg = act_vec(L.rec_act, ld(zb) + ld(hb_));
            const vf rg = act_vec(L.rec_act, ld(zb + kPanel) + ld(hb_ + kPanel));
            st(zsave + off, zg);
            st(rh + off, rg * ld(hprev + off));
          } else {
            const vf hh = act_vec(L.act, ld(zb + 2 * kPanel));
            const vf zg = ld(zsave + off);
            st(hn + off, zg * ld(hprev + off) + (1.0f - zg) * hh);
          }
          break;
        }
      }
    }
  }
}

// Staged path, for row-wise activations (softmax & co. over the units of a gate):
// each gate's pre-activations are gathered into a contiguous row, activated as a
// whole, then combined. `s` has room for 8*Hp floats.
void step_staged(const CellDesc& L, int phase, const float* z, const float* hz, const float* hprev,
                 const float* cprev, float* hn, float* cn, float* zsave, float* rh, float* s) {
  const int G = L.G;
  const int64_t H = L.H, Hp = L.Hp;
  float* a = s;           // each stage row has 2*Hp floats (sparsemax sorts after the row)
  float* b = s + 2 * Hp;
  float* c = s + 4 * Hp;
  float* d = s + 6 * Hp;
  switch (L.kind) {
    case CellKind::SimpleRNN:
      for (int64_t j = 0; j < H; ++j) a[j] = z[gidx(G, 0, j)];
      act_rows(L.act, a, 1, H, H);
      for (int64_t j = 0; j < H; ++j) hn[j] = a[j];
      break;
    case CellKind::LSTM:
      for (int64_t j = 0; j < H; ++j) {
        a[j] = z[gidx(G, 0, j)]; b[j] = z[gidx(G, 1, j)];
        c[j] = z[gidx(G, 2, j)]; d[j] = z[gidx(G, 3, j)];
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
          a[j] = z[gidx(G, 0, j)] + hz[gidx(hg, 0, j)];
          b[j] = z[gidx(G, 1, j)] + hz[gidx(hg, 1, j)];
        }
        act_rows(L.rec_act, a, 1, H, H); act_rows(L.rec_act, b, 1, H, H);
        if (!L.reset_after) {
          for (int64_t j = 0; j < H; ++j) { zsave[j] = a[j]; rh[j] = b[j] * hprev[j]; }
          break;
        }
        for (int64_t j = 0; j < H; ++j) c[j] = z[gidx(G, 2, j)] + b[j] * hz[gidx(hg, 2, j)];
      } else {
        for (int64_t j = 0; j < H; ++j) { a[j] = zsave[j]; c[j] = z[gidx(G, 2, j)]; }
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
void run(const CellDesc& L, const RunArgs& a) {
  FlushDenormals ftz;
  const int64_t B = a.B, T = a.T, D = L.D, H = L.H, Hp = L.Hp, G = L.G;
  const int64_t ldz = G * Hp;
  const int64_t npan = ldz / kPanel;
  const int64_t tc = a.tchunk < 1 ? 1 : (a.tchunk > T ? T : a.tchunk);
  const bool lstm = L.kind == CellKind::LSTM, gru = L.kind == CellKind::GRU;
  const bool staged = is_rowwise(L.act) || is_rowwise(L.rec_act);
  const int hg = gru ? (L.reset_after ? 3 : 2) : 0;

  float* s = a.scratch;
  float* xw = s; s += tc * B * ldz;
  float* hc = s; s += B * Hp;
  float* hnx = s; s += B * Hp;
  float* cc = s; s += B * Hp;
  float* cnx = s; s += B * Hp;
  float* hz = s; s += B * hg * Hp;
  float* zsave = s; s += B * Hp;
  float* rh = s; s += B * Hp;
  float* prev = s; s += B * Hp;
  float* stage = s;

  memset(hc, 0, sizeof(float) * 4 * B * Hp);
  memset(prev, 0, sizeof(float) * B * Hp);
  memset(rh, 0, sizeof(float) * B * Hp);
  for (int64_t b = 0; b < B; ++b) {
    if (a.h0) copy_row(hc + b * Hp, a.h0 + b * H, H);
    if (lstm && a.c0) copy_row(cc + b * Hp, a.c0 + b * H, H);
    if (a.prev0) copy_row(prev + b * Hp, a.prev0 + b * H, H);
  }

  for (int64_t k0 = 0; k0 < T; k0 += tc) {
    const int64_t n = (T - k0) < tc ? (T - k0) : tc;
    // Input projection for steps k0..k0+n-1 (processing order), layout [step][b][G*Hp].
    for (int64_t r = 0; r < n * B; ++r) copy_row(xw + r * ldz, L.bias_x, ldz);
    if (B >= n) {
      for (int64_t kk = 0; kk < n; ++kk) {
        const int64_t k = k0 + kk, t = a.go_backwards ? T - 1 - k : k;
        gemm(true, B, npan, D, a.x + t * D, T * D, L.W, xw + kk * B * ldz, ldz, kPanel);
      }
    } else {
      for (int64_t b = 0; b < B; ++b) {
        const int64_t t = a.go_backwards ? T - 1 - k0 : k0;
        const int64_t lda = a.go_backwards ? -D : D;
        gemm(true, n, npan, D, a.x + (b * T + t) * D, lda, L.W, xw + b * ldz, B * ldz, kPanel);
      }
    }

    for (int64_t kk = 0; kk < n; ++kk) {
      const int64_t k = k0 + kk, t = a.go_backwards ? T - 1 - k : k;
      float* z = xw + kk * B * ldz;
      // Recurrent projection for all rows at once.
      if (!gru) {
        gemm(true, B, npan, H, hc, Hp, L.U, z, ldz, kPanel);
      } else if (L.reset_after) {
        for (int64_t b = 0; b < B; ++b) copy_row(hz + b * 3 * Hp, L.bias_h, 3 * Hp);
        gemm(true, B, npan, H, hc, Hp, L.U, hz, 3 * Hp, kPanel);
      } else {
        gemm(false, B, 2 * Hp / kPanel, H, hc, Hp, L.U, hz, 2 * Hp, kPanel);
      }
      const int phases = (gru && !L.reset_after) ? 2 : 1;
      for (int ph = 0; ph < phases; ++ph) {
        if (ph == 1)  // candidate: z[:, h-block] += (r * h) @ U_h
          gemm(true, B, Hp / kPanel, H, rh, Hp, L.U2, z + 2 * kPanel, ldz, 3 * kPanel);
        for (int64_t b = 0; b < B; ++b) {
          const float* zb = z + b * ldz;
          const float* hzb = hz + b * hg * Hp;
          if (staged)
            step_staged(L, ph, zb, hzb, hc + b * Hp, cc + b * Hp, hnx + b * Hp, cnx + b * Hp,
                        zsave + b * Hp, rh + b * Hp, stage);
          else
            step_fused(L, ph, zb, hzb, hc + b * Hp, cc + b * Hp, hnx + b * Hp, cnx + b * Hp,
                       zsave + b * Hp, rh + b * Hp);
        }
      }
      // Keras's masked-step rule: a masked sample keeps its states; its output repeats
      // the last valid output (zeros before the first one) or is zero.
      for (int64_t b = 0; b < B; ++b) {
        const bool valid = !a.mask || a.mask[b * T + t];
        float* hn_b = hnx + b * Hp;
        if (!valid) {
          copy_row(hn_b, hc + b * Hp, Hp);
          if (lstm) copy_row(cnx + b * Hp, cc + b * Hp, Hp);
        }
        if (a.return_sequences) {
          float* yo = a.y + (b * T + k) * H;
          if (valid) copy_row(yo, hn_b, H);
          else if (a.zero_output_for_mask) memset(yo, 0, sizeof(float) * H);
          else copy_row(yo, prev + b * Hp, H);
        }
        if (a.mask && valid) copy_row(prev + b * Hp, hn_b, H);
      }
      float* tmp = hc; hc = hnx; hnx = tmp;
      tmp = cc; cc = cnx; cnx = tmp;
    }
  }

  for (int64_t b = 0; b < B; ++b) {
    if (!a.return_sequences) copy_row(a.y + b * H, (a.mask ? prev : hc) + b * Hp, H);
    copy_row(a.h_out + b * H, hc + b * Hp, H);
    if (lstm && a.c_out) copy_row(a.c_out + b * H, cc + b * Hp, H);
    if (a.prev_out) copy_row(a.prev_out + b * H, (a.mask ? prev : hc) + b * Hp, H);
  }
}

void activation(Act act, float* data, int64_t rows, int64_t n, int64_t stride) {
  FlushDenormals ftz;
  act_rows(act, data, rows, n, stride);
}

void gemm_packed(bool acc, int64_t M, int64_t npan, int64_t K, const float* A, int64_t lda, const float* P,
                 float* C, int64_t ldc) {
  FlushDenormals ftz;
  gemm(acc, M, npan, K, A, lda, P, C, ldc, kPanel);
}

}  // namespace PYRNN_ISA_NS
}  // namespace pyrnn
