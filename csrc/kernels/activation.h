// Activations over rows of values, row-wise kinds (softmax & co.) included (one ISA
// tier; see kernels/entry.h).
#pragma once

#include "kernels/math.h"

namespace pyrnn {
namespace PYRNN_ISA_NS {
namespace {

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
        while (k > 0 && srt[k - 1] < val) {
          srt[k] = srt[k - 1];
          --k;
        }
        srt[k] = val;
      }
      double cum = 0, cum_support = 0, k = 0;
      for (int64_t j = 0; j < n; ++j) {
        cum += srt[j];
        if ((double)srt[j] - (cum - 1.0) / (double)(j + 1) > 0) {
          cum_support += cum;
          k += 1;
        }
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

}  // namespace
}  // namespace PYRNN_ISA_NS
}  // namespace pyrnn
