// A recurrent layer (SimpleRNN, LSTM, GRU) with weights packed once, the call that runs
// it over a whole sequence, and Bidirectional.
// No Python here: the bindings translate arrays, the layer owns memory and maths.
#pragma once

#include <cstdint>
#include <memory>

#include "pyrnn/buffer.h"
#include "pyrnn/codes.h"
#include "pyrnn/kernels.h"
#include "pyrnn/packing.h"

namespace pyrnn {

struct LayerOptions {
  CellKind kind = CellKind::LSTM;
  Act act = Act::Tanh;
  Act rec_act = Act::Sigmoid;
  bool reset_after = true;
  bool go_backwards = false;
  bool return_sequences = false;
  bool zero_output_for_mask = false;
  ComputeType compute_type = ComputeType::Float32;  // how the weights are stored and multiplied
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
  RecurrentLayer(const LayerOptions& opt, int64_t D, int64_t H, const float* kernel, const float* recurrent,
                 const float* bias, int64_t bias_rows);

  const LayerOptions& options() const { return opt_; }
  int64_t input_size() const { return desc_.D; }
  int64_t units() const { return desc_.H; }
  int64_t num_states() const { return opt_.kind == CellKind::LSTM ? 2 : 1; }  // h (and c)
  double flops(int64_t B, int64_t T) const;  // multiply-adds x 2 of a call, to size threading

  // Runs the whole sequence. x is (B, T, D) C-contiguous; mask (B, T) or null;
  // h0/c0 (B, H) or null. Thread-safe: the layer is read-only and scratch is per call.
  // prev0: (B, H) the last valid output of an earlier call on the same stream (masked
  // steps repeat it), or null for zeros as in Keras.
  void run(int64_t B, int64_t T, const float* x, const uint8_t* mask, const float* h0, const float* c0,
           const LayerOutputs& out, bool zero_output_for_mask, const float* prev0 = nullptr) const;

 private:
  LayerOptions opt_;
  LayerDesc desc_{};
  AlignedBuffer W_, U_, U2_, bx_, bh_;
  LowpWeights lw_, lu_, lu2_;  // reduced compute types (W_, U_, U2_ then stay empty)
  int64_t ubytes_ = 0;         // recurrent weight bytes, in whichever form
  // LSTM inputs wider than kFoldInputs: the stacked form too, for a thread's block of at
  // least kStackedMinRows rows (sdesc_.XS > 0 when there is one).
  LayerDesc sdesc_{};
  AlignedBuffer Us_;
};

// Bidirectional: forward and backward layers on the same input, the backward output
// flipped back in time when sequences are returned, merged. With a mask, masked
// steps output zeros when return_sequences (Keras forces zero_output_for_mask).
// y_fwd/y_bwd receive the per-direction outputs; merged (when not None mode) gets the
// merged result. h/c: final states per direction.
void run_bidirectional(const RecurrentLayer& fwd, const RecurrentLayer& bwd, MergeMode mode, int64_t B, int64_t T,
                       const float* x, const uint8_t* mask, const float* h0f, const float* c0f, const float* h0b,
                       const float* c0b, float* merged, const LayerOutputs& of, const LayerOutputs& ob);

}  // namespace pyrnn
