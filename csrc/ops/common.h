// Helpers shared by the graph ops (ISA-neutral; products and activations go through
// the current tier's kernels).
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "pyrnn/buffer.h"
#include "pyrnn/codes.h"
#include "pyrnn/graph.h"
#include "pyrnn/packing.h"
#include "pyrnn/threadpool.h"

namespace pyrnn {

// A copy of n floats, or an empty vector for a null pointer (an absent parameter).
std::vector<float> copy_of(const float* p, int64_t n);

// Applies `act` to rows of n values in place (row-wise kinds normalise each row).
void apply_act(Act act, float* y, int64_t rows, int64_t n);

// The non-batch axes of x's shape.
std::vector<int64_t> non_batch(const Tensor& x);

// A (B, T) mask slot as bytes (nonzero = valid); a wrong shape fails naming the layer.
std::vector<uint8_t> mask_bytes(const Tensor& m, int64_t B, int64_t T, const std::string& layer);

// Steps a window of `size` taps `dilation` apart covers.
inline int64_t window_span(int64_t size, int64_t dilation) { return (size - 1) * dilation + 1; }

// Output length and left padding of a 1-D window op (TensorFlow's rules). Python asks
// for the length through _core.window_length, so shapes are computed here only.
void window_geometry(int64_t T, int64_t span, int64_t stride, ConvPad pad, int64_t* Tout, int64_t* left);

// Splits [0, n) into about `parts` contiguous ranges and runs fn(begin, end) on each,
// in parallel when the work is worth it.
template <class F>
void split_rows(int64_t n, double flops, F fn) {
  int64_t parts = flops < kMinParallelFlops ? 1 : std::min<int64_t>(num_threads(), n);
  if (parts <= 1) {
    if (n > 0) fn(int64_t(0), n);
    return;
  }
  const int64_t per = (n + parts - 1) / parts;
  parts = (n + per - 1) / per;
  parallel_for(static_cast<int>(parts), [&](int i) {
    const int64_t b = i * per;
    fn(b, std::min(n, b + per));
  });
}

// Iterates the non-batch elements of a tensor of non-batch shape `dims` against a
// parameter of shape `pshape` (each axis 1 or equal), calling fn(element, param index).
template <class F>
void broadcast_walk(const std::vector<int64_t>& dims, const std::vector<int64_t>& pshape, F fn) {
  const size_t r = dims.size();
  std::vector<int64_t> pstride(r, 0), idx(r, 0);
  int64_t s = 1;
  for (size_t i = r; i-- > 0;) {
    pstride[i] = pshape[i] == 1 ? 0 : s;
    s *= pshape[i];
  }
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  int64_t p = 0;
  for (int64_t e = 0; e < n; ++e) {
    fn(e, p);
    for (size_t i = r; i-- > 0;) {  // odometer increment
      if (++idx[i] < dims[i]) {
        p += pstride[i];
        break;
      }
      p -= pstride[i] * (dims[i] - 1);
      idx[i] = 0;
    }
  }
}

}  // namespace pyrnn
