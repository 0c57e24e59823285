// RecurrentLayer: packs a Keras layer's weights once, then drives the per-ISA time loop
// (kernels/time_loop.h) for each call, splitting the work across threads. ISA-neutral.

#include <algorithm>
#include <stdexcept>
#include <string>
#include <vector>

#include "pyrnn/isa.h"
#include "pyrnn/layer.h"
#include "pyrnn/packing.h"
#include "pyrnn/platform.h"
#include "pyrnn/threadpool.h"

namespace pyrnn {

namespace {

// A team splits the units of a step across threads that meet at a spinning barrier
// each step. It pays only once the recurrent weights no longer fit one core's L1 (about
// LSTM(110) at batch 1); below that a spinning barrier costs more than it saves,
// especially when other runtimes' threads compete for the cores (bench/notes/tuning.md).
constexpr double kTeamMinStepFlops = 1e5;
constexpr double kTeamMinFlops = 1e6;

}  // namespace

RecurrentLayer::RecurrentLayer(const LayerOptions& opt, int64_t D, int64_t H, const float* kernel,
                               const float* recurrent, const float* bias, int64_t bias_rows)
    : opt_(opt) {
  if (D < 1 || H < 1) throw std::invalid_argument("input size and units must be >= 1");
  if (D > (1 << 24) || H > (1 << 20)) throw std::invalid_argument("layer dimensions are too large");
  if (static_cast<int>(opt.act) < 0 || opt.act >= Act::kCount || static_cast<int>(opt.rec_act) < 0 ||
      opt.rec_act >= Act::kCount)
    throw std::invalid_argument("unknown activation code");
  const int G = gate_count(opt.kind);
  const bool gru_ra = opt.kind == CellKind::GRU && opt.reset_after;
  if (bias && bias_rows != (gru_ra ? 2 : 1))
    throw std::invalid_argument("bias must have " + std::to_string(gru_ra ? 2 : 1) + " row(s)");
  const int64_t Hp = round_up(H, kPanel);
  desc_.kind = opt.kind;
  desc_.D = static_cast<int32_t>(D);
  desc_.H = static_cast<int32_t>(H);
  desc_.Hp = static_cast<int32_t>(Hp);
  desc_.G = G;
  desc_.Z = static_cast<int32_t>(gate_cols(H, G));
  desc_.Zh = opt.kind != CellKind::GRU ? 0 : static_cast<int32_t>(gate_cols(H, opt.reset_after ? 3 : 2));
  desc_.reset_after = opt.reset_after;
  desc_.act = opt.act;
  desc_.rec_act = opt.rec_act;
  bx_ = pack_bias(bias, H, G);
  if (gru_ra) bh_ = pack_bias(bias ? bias + G * H : nullptr, H, G);
  const ComputeType ct = opt.compute_type;
  if (static_cast<int>(ct) < 0 || ct >= ComputeType::kCount) throw std::invalid_argument("unknown compute type");
  // Reduced types: the recurrent kernel, and the input kernel when the layer has more than
  // kFoldInputs input features, in that type (a narrower input kernel is a negligible
  // share of the work and of the bytes: it stays float32, and so do the biases).
  const bool round_w = D > kFoldInputs;
  bool lowp = ct != ComputeType::Float32;
  std::vector<float> rk, rr;
  if (ct == ComputeType::BFloat16 || ct == ComputeType::Float16) {
    // 16-bit weights pay where they stream from memory. When the layer's float32 panels
    // stay in cache from step to step, widening them at each use would only cost time
    // (LSTM(256), 1.2 MB in a 2 MB L2: 0.85x at batch 8), so the rounded weights are then
    // stored as float32 and run by the float32 kernels, which compute the same numbers
    // (widening is exact). In cache: within one core's L2, or two cores' with two threads
    // or more (teams split the weights; 2xLSTM(256)'s second layer, 2.1 MB: 0.84x at batch
    // 8 in 16 bits, 1.0x widened). The thread count is the one when the layer is built.
    const int64_t f32_bytes = (1 + D + H) * gate_cols(H, G) * 4;
    if (f32_bytes <= cache_l2_bytes() * std::min<int64_t>(num_threads(), 2)) {
      rr = round_weights(ct, recurrent, H * G * H);
      recurrent = rr.data();
      if (round_w) {
        rk = round_weights(ct, kernel, D * G * H);
        kernel = rk.data();
      }
      lowp = false;
    }
  }
  desc_.ct = lowp ? ct : ComputeType::Float32;
  if (lowp) {
    if (round_w)
      lw_ = pack_panels_lowp(ct, kernel, D, H, G, 0, G);
    else
      W_ = pack_panels(kernel, D, H, G, 0, G);
    if (opt.kind == CellKind::GRU && !opt.reset_after) {
      lu_ = pack_panels_lowp(ct, recurrent, H, H, G, 0, 2);
      lu2_ = pack_panels_lowp(ct, recurrent, H, H, G, 2, 1);
    } else {
      lu_ = pack_panels_lowp(ct, recurrent, H, H, G, 0, G);
    }
    desc_.W = W_.size() ? W_.data() : nullptr;
    if (lw_.bytes) desc_.lw = lw_.view();
    desc_.lu = lu_.view();
    if (lu2_.bytes) desc_.lu2 = lu2_.view();
    desc_.bias_x = bx_.data();
    desc_.bias_h = bh_.size() ? bh_.data() : nullptr;
    ubytes_ = lu_.bytes + lu2_.bytes;
    return;
  }
  W_ = pack_panels(kernel, D, H, G, 0, G);
  if (opt.kind == CellKind::GRU && !opt.reset_after) {
    U_ = pack_panels(recurrent, H, H, G, 0, 2);
    U2_ = pack_panels(recurrent, H, H, G, 2, 1);
  }
  // Stacked panels: [bias; kernel; recurrent], see LayerDesc::XS.
  auto stacked = [&] {
    const int64_t K = 1 + D + H, N = G * H;
    std::vector<float> m(static_cast<size_t>(K * N), 0.0f);
    if (bias) std::copy(bias, bias + N, m.begin());
    std::copy(kernel, kernel + D * N, m.begin() + N);
    std::copy(recurrent, recurrent + H * N, m.begin() + (1 + D) * N);
    return pack_panels(m.data(), K, H, G, 0, G);
  };
  // LSTM whose recurrent weights exceed one core's L2: always stacked, whatever D. Its
  // steps stream the weights from beyond the L2 anyway, so the D + 1 more rows cost little,
  // while projecting the inputs ahead writes and rereads an L2-sized block of
  // pre-activations per step and starts each from a copy of the bias (+5-10% at batch 8
  // and up for H = 512-1024, within the noise at batch 1: bench/notes/tuning.md).
  const bool stack_big = opt.kind == CellKind::LSTM && H * gate_cols(H, G) * 4 > cache_l2_bytes();
  if (opt.kind != CellKind::GRU && (D <= kFoldInputs || stack_big)) {
    U_ = stacked();
    desc_.XS = static_cast<int32_t>(1 + D);
  } else if (opt.kind != CellKind::GRU || opt.reset_after) {
    U_ = pack_panels(recurrent, H, H, G, 0, G);
  }
  if (!desc_.XS && opt.kind == CellKind::LSTM && D > kFoldInputs && (1 + D + H) * desc_.Z * 4 <= kStackedMaxBytes)
    Us_ = stacked();
  ubytes_ = static_cast<int64_t>(U_.size() + U2_.size()) * 4;
  desc_.W = W_.data();
  desc_.bias_x = bx_.data();
  desc_.U = U_.data();
  desc_.U2 = U2_.size() ? U2_.data() : nullptr;
  desc_.bias_h = bh_.size() ? bh_.data() : nullptr;
  if (Us_.size()) {
    sdesc_ = desc_;
    sdesc_.XS = static_cast<int32_t>(1 + D);
    sdesc_.U = Us_.data();
  }
}

double RecurrentLayer::flops(int64_t B, int64_t T) const {
  return 2.0 * desc_.G * (double)B * (double)T * desc_.H * (double)(desc_.H + desc_.D);
}

void RecurrentLayer::run(int64_t B, int64_t T, const float* x, const uint8_t* mask, const float* h0, const float* c0,
                         const LayerOutputs& out, bool zero_output_for_mask, const float* prev0) const {
  if (B == 0) return;
  if (B < 0 || T < 1) throw std::invalid_argument("batch must be >= 0 and timesteps >= 1");
  const int64_t H = desc_.H, D = desc_.D, Hp = desc_.Hp, ldz = desc_.Z, ldh = desc_.Zh;
  const int64_t ystep = opt_.return_sequences ? T * H : H;

  const bool staged = is_rowwise(opt_.act) || is_rowwise(opt_.rec_act);
  // int8: each team member's work area for quantizing the rows of its GEMMs (at most
  // max(rows, timesteps projected at once) rows of max(D, H) values).
  const bool int8 = desc_.ct == ComputeType::Int8;
  auto qwork_bytes = [&](int64_t nb, int64_t tc, int members) {
    return int8 ? members * round_up(qgemm_work_bytes(std::max(nb, tc), std::max(D, H)), 64) : 0;
  };
  auto args = [&](int64_t b0, int64_t nb, int64_t tc, float* scratch) {
    RunArgs a{};
    a.B = nb;
    a.T = T;
    a.x = x + b0 * T * D;
    a.mask = mask ? mask + b0 * T : nullptr;
    a.h0 = h0 ? h0 + b0 * H : nullptr;
    a.c0 = c0 ? c0 + b0 * H : nullptr;
    a.prev0 = prev0 ? prev0 + b0 * H : nullptr;
    a.prev_out = out.prev ? out.prev + b0 * H : nullptr;
    a.go_backwards = opt_.go_backwards;
    a.return_sequences = opt_.return_sequences;
    a.zero_output_for_mask = zero_output_for_mask;
    a.y = out.y + b0 * ystep;
    a.h_out = out.h + b0 * H;
    a.c_out = out.c ? out.c + b0 * H : nullptr;
    a.scratch = scratch;
    a.tchunk = tc;
    a.l2_bytes = cache_l2_bytes();
    a.qgemm = int8 ? int8_kernel() : nullptr;
    a.qrows = int8 ? int8_block_rows() : 0;
    a.team = 1;
    return a;
  };
  // Input projections for up to 256 KB of gate pre-activations at a time, which stay in
  // L2 until the steps read them (narrow inputs are projected inside each step).
  auto chunk_steps = [&](const LayerDesc& d, int64_t nb) {
    int64_t tc = D <= kFoldInputs || d.XS ? 1 : (int64_t(1) << 16) / (nb * ldz);
    return tc < 1 ? 1 : (tc > T ? T : tc);
  };
  // The two h rows per sample start round_up(XS, 16) floats in when stacked.
  auto scratch_floats = [&](const LayerDesc& d, int64_t nb, int64_t tc) {
    return tc * nb * ldz + nb * (8 * Hp + ldh + 2 * round_up(d.XS, kPanel)) + 8 * Hp + 64;
  };

  // Rows are independent, so batch rows are split across threads; each chunk runs the
  // same per-row arithmetic as a single-threaded call, which keeps results identical
  // for any thread count. Chunks are multiples of 4 rows (the kernels' row tile).
  int64_t chunks = flops(B, T) < kMinParallelFlops ? 1 : std::min<int64_t>(num_threads(), B / 4);
  if (chunks < 1) chunks = 1;

  // Too few rows to split, but enough arithmetic per step: a team splits the units
  // instead, each member keeping its share of the weights in its own core's caches.
  const int64_t blocks = (H + kPanel - 1) / kPanel;
  const int team = static_cast<int>(std::min<int64_t>(num_threads(), blocks));
  // Recurrent weights larger than one core's L2 would stream from memory into both cores
  // every step if each core took its own rows; a team streams each core's half only,
  // whatever the batch (the kernel then blocks rows so each half is read once per block).
  const bool u_big = ubytes_ > cache_l2_bytes();
  if ((chunks == 1 || u_big) && team > 1 && !staged && flops(B, 1) >= kTeamMinStepFlops &&
      flops(B, T) >= kTeamMinFlops) {
    const int64_t tc = chunk_steps(desc_, B);
    AlignedBuffer scratch(scratch_floats(desc_, B, tc), /*zero=*/false);
    AlignedBuffer qwork;
    if (int8) qwork = AlignedBuffer(qwork_bytes(B, tc, team) / 4, /*zero=*/false);
    SpinBarrier barrier(team);
    RunArgs a = args(0, B, tc, scratch.data());
    a.qwork = int8 ? reinterpret_cast<uint8_t*>(qwork.data()) : nullptr;
    a.qwork_bytes = qwork_bytes(B, tc, team);
    a.team = team;
    a.sync = [](void* b, int rank) { static_cast<SpinBarrier*>(b)->wait(rank); };
    a.sync_ctx = &barrier;
    if (parallel_team(team, [&](int rank) {
          RunArgs m = a;
          m.rank = rank;
          current_kernels().run(desc_, m);
        }))
      return;
  }

  const int64_t rows_per = ((B + chunks - 1) / chunks + 3) / 4 * 4;
  chunks = (B + rows_per - 1) / rows_per;
  parallel_for(static_cast<int>(chunks), [&](int i) {
    const int64_t b0 = i * rows_per, nb = std::min(rows_per, B - b0);
    const LayerDesc& d = sdesc_.XS && nb >= kStackedMinRows ? sdesc_ : desc_;
    const int64_t tc = chunk_steps(d, nb);
    AlignedBuffer scratch(scratch_floats(d, nb, tc), /*zero=*/false);
    AlignedBuffer qwork;
    if (int8) qwork = AlignedBuffer(qwork_bytes(nb, tc, 1) / 4, /*zero=*/false);
    RunArgs a = args(b0, nb, tc, scratch.data());
    a.qwork = int8 ? reinterpret_cast<uint8_t*>(qwork.data()) : nullptr;
    a.qwork_bytes = qwork_bytes(nb, tc, 1);
    current_kernels().run(d, a);
  });
}

}  // namespace pyrnn
