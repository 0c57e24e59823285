#include "ops/recurrent.h"

#include <stdexcept>

namespace pyrnn {

SequenceOp::Sequence SequenceOp::sequence_input(const std::vector<Tensor>& t, int64_t D) const {
  const Tensor& x = arg(t, 0);
  if (x.rank() != 3 || x.dim(2) != D)
    fail("expected input of shape (batch, time, " + std::to_string(D) + "), got " + x.shape_str());
  const int64_t B = x.dim(0), T = x.dim(1);
  if (T < 1) fail("the input needs at least one timestep, got " + x.shape_str());
  return {B, T, has_arg(1) ? mask_bytes(arg(t, 1), B, T, layer_) : std::vector<uint8_t>()};
}

void RnnOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  const int64_t H = rnn_->units();
  const Sequence in = sequence_input(t, rnn_->input_size());
  const int64_t B = in.B, T = in.T;
  const std::vector<uint8_t>& mask = in.mask;
  static const char* what[3] = {"initial state h", "initial state c", "previous output"};
  const float* s[3];
  for (size_t i = 0; i < 3; ++i) s[i] = state_arg(t, 2 + i, B, H, what[i]);
  const bool lstm = rnn_->num_states() == 2;
  const bool want_prev = out_.size() > 3 && out_[3] >= 0;
  Tensor y = rnn_->options().return_sequences ? Tensor::alloc({B, T, H}) : Tensor::alloc({B, H});
  Tensor h = Tensor::alloc({B, H});
  Tensor c = Tensor::alloc({B, lstm ? H : 0});
  Tensor prev = want_prev ? Tensor::alloc({B, H}) : Tensor{};
  LayerOutputs outs{y.mutable_data(), h.mutable_data(), lstm ? c.mutable_data() : nullptr,
                    want_prev ? prev.mutable_data() : nullptr};
  rnn_->run(B, T, x.ptr, mask.empty() ? nullptr : mask.data(), s[0], lstm ? s[1] : nullptr, outs,
            rnn_->options().zero_output_for_mask, s[2]);
  put(t, 0, std::move(y));
  put(t, 1, std::move(h));
  if (lstm) put(t, 2, std::move(c));
  if (want_prev) put(t, 3, std::move(prev));
}

void BidirectionalOp::run(std::vector<Tensor>& t) const {
  const Tensor& x = arg(t, 0);
  const int64_t H = f_->units();
  const Sequence in = sequence_input(t, f_->input_size());
  const int64_t B = in.B, T = in.T;
  const std::vector<uint8_t>& mask = in.mask;
  const float* s[4];
  for (size_t i = 0; i < 4; ++i) s[i] = state_arg(t, 2 + i, B, H, ("initial state " + std::to_string(i)).c_str());
  const bool lstm = f_->num_states() == 2, seq = f_->options().return_sequences;
  auto ys = [&](int64_t h) { return seq ? Tensor::alloc({B, T, h}) : Tensor::alloc({B, h}); };
  Tensor yf = ys(H), yb = ys(H);
  Tensor merged = mode_ == MergeMode::None ? Tensor{} : ys(mode_ == MergeMode::Concat ? 2 * H : H);
  Tensor hf = Tensor::alloc({B, H}), hb = Tensor::alloc({B, H});
  Tensor cf = Tensor::alloc({B, lstm ? H : 0}), cb = Tensor::alloc({B, lstm ? H : 0});
  run_bidirectional(*f_, *b_, mode_, B, T, x.ptr, mask.empty() ? nullptr : mask.data(), s[0], lstm ? s[1] : nullptr,
                    lstm ? s[2] : s[1], lstm ? s[3] : nullptr,
                    mode_ == MergeMode::None ? nullptr : merged.mutable_data(),
                    LayerOutputs{yf.mutable_data(), hf.mutable_data(), lstm ? cf.mutable_data() : nullptr},
                    LayerOutputs{yb.mutable_data(), hb.mutable_data(), lstm ? cb.mutable_data() : nullptr});
  if (mode_ == MergeMode::None) {
    put(t, 0, std::move(yf));
    put(t, 1, std::move(yb));
  } else {
    put(t, 0, std::move(merged));
  }
  put(t, 2, std::move(hf));
  if (lstm) put(t, 3, std::move(cf));
  put(t, 4, std::move(hb));
  if (lstm) put(t, 5, std::move(cb));
}

}  // namespace pyrnn
