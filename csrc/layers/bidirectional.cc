// Bidirectional: both directions of a recurrent layer, then the merge.

#include <cstring>
#include <stdexcept>

#include "pyrnn/layer.h"
#include "pyrnn/threadpool.h"

namespace pyrnn {

void run_bidirectional(const RecurrentLayer& fwd, const RecurrentLayer& bwd, MergeMode mode, int64_t B, int64_t T,
                       const float* x, const uint8_t* mask, const float* h0f, const float* c0f, const float* h0b,
                       const float* c0b, float* merged, const LayerOutputs& of, const LayerOutputs& ob) {
  if (fwd.units() != bwd.units() || fwd.input_size() != bwd.input_size() || fwd.num_states() != bwd.num_states() ||
      fwd.options().return_sequences != bwd.options().return_sequences)
    throw std::invalid_argument("forward and backward layers disagree in shape or return_sequences");
  const bool seq = fwd.options().return_sequences;
  // Keras's Bidirectional sets zero_output_for_mask = return_sequences on both layers.
  // The directions are independent: one thread each (a direction's own row split then
  // runs inline, since the pool is busy).
  auto direction = [&](int i) {
    if (i == 0)
      fwd.run(B, T, x, mask, h0f, c0f, of, seq);
    else
      bwd.run(B, T, x, mask, h0b, c0b, ob, seq);
  };
  if (fwd.flops(B, T) + bwd.flops(B, T) < kMinParallelFlops) {
    direction(0);
    direction(1);
  } else {
    parallel_for(2, direction);
  }
  if (B == 0) return;
  const int64_t H = fwd.units();
  const int64_t steps = seq ? T : 1;
  if (seq) {  // the backward sequence is in processing order: flip it back in time
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T / 2; ++t) {
        float* p = ob.y + (b * T + t) * H;
        float* q = ob.y + (b * T + (T - 1 - t)) * H;
        for (int64_t j = 0; j < H; ++j) {
          float v = p[j];
          p[j] = q[j];
          q[j] = v;
        }
      }
  }
  if (mode == MergeMode::None) return;
  const int64_t rows = B * steps;
  for (int64_t r = 0; r < rows; ++r) {
    const float* f = of.y + r * H;
    const float* g = ob.y + r * H;
    switch (mode) {
      case MergeMode::Concat:
        std::memcpy(merged + r * 2 * H, f, sizeof(float) * H);
        std::memcpy(merged + r * 2 * H + H, g, sizeof(float) * H);
        break;
      case MergeMode::Sum:
        for (int64_t j = 0; j < H; ++j) merged[r * H + j] = f[j] + g[j];
        break;
      case MergeMode::Mul:
        for (int64_t j = 0; j < H; ++j) merged[r * H + j] = f[j] * g[j];
        break;
      case MergeMode::Ave:
        for (int64_t j = 0; j < H; ++j) merged[r * H + j] = (f[j] + g[j]) / 2.0f;
        break;
      case MergeMode::None:
      case MergeMode::kCount:  // never stored: codes are checked where they cross from Python
        break;
    }
  }
}

}  // namespace pyrnn
