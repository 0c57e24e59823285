// Weight packing into the kernels' panel layout (see LayerDesc in pyrnn/kernels.h).
#pragma once

#include <cstdint>
#include <vector>

#include "pyrnn/buffer.h"
#include "pyrnn/kernels.h"

namespace pyrnn {

// Rounds v up to a multiple of m.
inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Packed columns for G gates of H units (the LayerDesc layout; a multiple of kPanel).
int64_t gate_cols(int64_t H, int G);

// Packs gate blocks [g0, g0+ng) of a Keras (K, G*H) matrix into 16-wide panels of K
// rows, in the LayerDesc layout for ng gates (gate_cols(H, ng) columns; padding is
// zero). G = 1 packs a plain (K, N) matrix, its columns padded to a multiple of 16.
AlignedBuffer pack_panels(const float* m, int64_t K, int64_t H, int G, int g0, int ng);

// A weight matrix packed in a reduced compute type (see LowpPanels in pyrnn/kernels.h):
// the pack_panels layout with 16-bit elements (bfloat16, float16: rounded to nearest
// even), or int8 panels with per-column scales max|w| / 127 and codes rint(w / scale)
// (kernels/qgemm.h). Storage is float-typed, aligned; view() gives the kernels' form.
struct LowpWeights {
  AlignedBuffer data, scale, comp;
  int64_t bytes = 0;  // of data
  LowpPanels view() const;
};

// Throws std::invalid_argument when a weight cannot be represented: a finite weight
// beyond float16's range (|w| >= 65520 rounds to infinity), or a non-finite weight in int8.
LowpWeights pack_panels_lowp(ComputeType ct, const float* m, int64_t K, int64_t H, int G, int g0, int ng);

// n weights rounded to a 16-bit type and widened back (exact), as float32; float16 throws
// std::invalid_argument as pack_panels_lowp does.
std::vector<float> round_weights(ComputeType ct, const float* m, int64_t n);

// float32 to bfloat16 / float16 bits, rounded to nearest even (float16: *overflow is set
// when a finite value becomes infinite).
uint16_t float_to_bfloat16(float f);
uint16_t float_to_half(float f, bool* overflow);

// A (G*H,) bias into the same layout (gate_cols(H, G) floats).
AlignedBuffer pack_bias(const float* b, int64_t H, int G);

}  // namespace pyrnn
