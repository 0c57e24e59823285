// Weight packing into the kernels' panel layout (ISA-neutral: packed weights do not depend
// on the tier that runs them).

#include "pyrnn/packing.h"

#include <vector>

namespace pyrnn {

int64_t gate_cols(int64_t H, int G) {
  const int64_t nf = H / kPanel;
  return nf * G * kPanel + round_up(G * (H - nf * kPanel), kPanel);
}

namespace {

// Column of gate g, unit j (kernels/cell.h's gidx; a copy, since nothing compiled per ISA may be shared).
int64_t gate_col(int G, int64_t H, int g, int64_t j) {
  const int64_t nf = H / kPanel;
  if (j < nf * kPanel) return (j / kPanel) * G * kPanel + g * kPanel + j % kPanel;
  return nf * G * kPanel + g * (H - nf * kPanel) + (j - nf * kPanel);
}

}  // namespace

AlignedBuffer pack_panels(const float* m, int64_t K, int64_t H, int G, int g0, int ng) {
  AlignedBuffer out(gate_cols(H, ng) * K);  // zeroed
  float* o = out.data();
  std::vector<int64_t> dst(static_cast<size_t>(ng * H));  // where source column g*H + j lands in row 0
  for (int g = 0; g < ng; ++g)
    for (int64_t j = 0; j < H; ++j) {
      const int64_t col = gate_col(ng, H, g, j);
      dst[g * H + j] = (col / kPanel) * K * kPanel + col % kPanel;
    }
  for (int64_t k = 0; k < K; ++k) {  // source rows in order
    const float* row = m + k * G * H + g0 * H;
    for (int64_t c = 0; c < ng * H; ++c) o[dst[c] + k * kPanel] = row[c];
  }
  return out;
}

AlignedBuffer pack_bias(const float* b, int64_t H, int G) {
  AlignedBuffer out(gate_cols(H, G));
  if (b)
    for (int g = 0; g < G; ++g)
      for (int64_t j = 0; j < H; ++j) out.data()[gate_col(G, H, g, j)] = b[g * H + j];
  return out;
}

}  // namespace pyrnn
