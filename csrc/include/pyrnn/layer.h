// A recurrent layer with weights packed once, and the calls that run it.
// No Python here: the bindings translate arrays, the layer owns memory and maths.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "pyrnn/kernels.h"

namespace pyrnn {

// 64-byte aligned float storage. Blocks of 1 MiB and more are recycled: a freed one is
// kept (up to kCachedBlocks of them, kCachedBytes in all) and handed to the next request
// it fits within a factor of two, so a model's large intermediates reuse memory whose
// pages are already mapped instead of taking a page fault per 4 KiB on every call
// (2xLSTM(50) at batch 1024: ~5000 faults, ~7 ms of a 50 ms call).
class AlignedBuffer {
 public:
  static constexpr size_t kRecycleMin = size_t(1) << 20;
  static constexpr int kCachedBlocks = 8;
  static constexpr size_t kCachedBytes = size_t(256) << 20;

  AlignedBuffer() = default;
  explicit AlignedBuffer(int64_t n, bool zero = true);
  float* data() const { return p_.get(); }
  int64_t size() const { return n_; }

  // Frees the recycled blocks now (pyrnn.release_memory()); returns the bytes freed.
  static size_t release_cached();

 private:
  struct Free {
    Free() noexcept {}
    explicit Free(size_t b) noexcept : bytes(b) {}
    size_t bytes = 0;  // the block's size, for recycling
    void operator()(float* p) const;
  };
  std::unique_ptr<float, Free> p_;
  int64_t n_ = 0;
};

// Softmax and the like: activations over all units of a gate rather than elementwise.
bool is_rowwise(Act a);

// Packed columns for G gates of H units (the CellDesc layout; a multiple of kPanel).
int64_t gate_cols(int64_t H, int G);

// Packs gate blocks [g0, g0+ng) of a Keras (K, G*H) matrix into 16-wide panels of K
// rows, in the CellDesc layout for ng gates (gate_cols(H, ng) columns; padding is
// zero). G = 1 packs a plain (K, N) matrix, its columns padded to a multiple of 16.
AlignedBuffer pack_panels(const float* m, int64_t K, int64_t H, int G, int g0, int ng);

// A (G*H,) bias into the same layout (gate_cols(H, G) floats).
AlignedBuffer pack_bias(const float* b, int64_t H, int G);

// Rounds v up to a multiple of m.
inline int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

// Below this much arithmetic a call stays on one thread: waking a worker costs about
// as much as one small timestep.
constexpr double kMinParallelFlops = 2e6;

struct LayerOptions {
  CellKind kind = CellKind::LSTM;
  Act act = Act::Tanh;
  Act rec_act = Act::Sigmoid;
  bool reset_after = true;
  bool go_backwards = false;
  bool return_sequences = false;
  bool zero_output_for_mask = false;
};

// Outputs of one call: y is (B, T, H) or (B, H); c is only filled for LSTM.
struct LayerOutputs {
  float* y;
  float* h;
  float* c;
  float* prev = nullptr;  // (B, H): the last valid output (masked steps repeat it), for streaming
};

class RecurrentLayer {
 public:
  // kernel (D, G*H), recurrent (H, G*H), bias: none, (G*H,) or for GRU reset_after
  // (2, G*H); all row-major float32 in Keras's layout. Throws std::invalid_argument on
  // inconsistent shapes.
  RecurrentLayer(const LayerOptions& opt, int64_t D, int64_t H, const float* kernel,
                 const float* recurrent, const float* bias, int64_t bias_rows);

  const LayerOptions& options() const { return opt_; }
  int64_t input_size() const { return desc_.D; }
  int64_t units() const { return desc_.H; }
  int64_t num_states() const { return opt_.kind == CellKind::LSTM ? 2 : 1; }
  double flops(int64_t B, int64_t T) const;  // multiply-adds x 2 of a call, to size threading

  // Runs the whole sequence. x is (B, T, D) C-contiguous; mask (B, T) or null;
  // h0/c0 (B, H) or null. Thread-safe: the layer is read-only and scratch is per call.
  // prev0: (B, H) the last valid output of an earlier call on the same stream (masked
  // steps repeat it), or null for zeros as in Keras.
  void run(int64_t B, int64_t T, const float* x, const uint8_t* mask, const float* h0,
           const float* c0, const LayerOutputs& out, bool zero_output_for_mask,
           const float* prev0 = nullptr) const;

 private:
  LayerOptions opt_;
  CellDesc desc_{};
  AlignedBuffer W_, U_, U2_, bx_, bh_;
  // LSTM inputs wider than kFoldInputs: the stacked form too, for a thread's block of at
  // least kStackedMinRows rows (sdesc_.XS > 0 when there is one).
  CellDesc sdesc_{};
  AlignedBuffer Us_;
};

enum class MergeMode { Concat = 0, Sum, Mul, Ave, None };

// Bidirectional: forward and backward layers on the same input, the backward output
// flipped back in time when sequences are returned, merged. With a mask, masked
// steps output zeros when return_sequences (Keras forces zero_output_for_mask).
// y_fwd/y_bwd receive the per-direction outputs; merged (when not None mode) gets the
// merged result. h/c: final states per direction.
void run_bidirectional(const RecurrentLayer& fwd, const RecurrentLayer& bwd, MergeMode mode,
                       int64_t B, int64_t T, const float* x, const uint8_t* mask,
                       const float* h0f, const float* c0f, const float* h0b, const float* c0b,
                       float* merged, const LayerOutputs& of, const LayerOutputs& ob);

}  // namespace pyrnn
