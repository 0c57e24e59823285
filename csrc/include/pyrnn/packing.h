// Weight packing into the kernels' panel layout (see LayerDesc in pyrnn/kernels.h).
#pragma once

#include <cstdint>

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

// A (G*H,) bias into the same layout (gate_cols(H, G) floats).
AlignedBuffer pack_bias(const float* b, int64_t H, int G);

}  // namespace pyrnn
