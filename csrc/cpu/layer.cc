// Weight packing and the per-call driver (ISA-neutral; the kernels do the maths).

#include "pyrnn/layer.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "pyrnn/isa.h"
#include "pyrnn/threadpool.h"

namespace pyrnn {

namespace {

// Recycled large blocks (see AlignedBuffer), most recently freed last.
struct BlockCache {
  struct Block {
    float* p;
    size_t bytes;
  };
  pid_t pid = getpid();
  std::mutex m;
  std::vector<Block> blocks;
  size_t total = 0;
};

// Never destroyed (buffers may be freed at exit). A forked child starts a new one: the
// parent's lock may have been held by a thread that does not exist in the child (the
// parent's blocks are then left alone).
BlockCache& block_cache() {
  static BlockCache* c = new BlockCache;
  if (c->pid != getpid()) c = new BlockCache;
  return *c;
}

}  // namespace

AlignedBuffer::AlignedBuffer(int64_t n, bool zero) : n_(n) {
  const size_t want = ((size_t)(n > 0 ? n : 1) * sizeof(float) + 63) / 64 * 64;
  size_t bytes = want;
  float* p = nullptr;
  if (bytes >= kRecycleMin) {
    BlockCache& c = block_cache();
    std::lock_guard<std::mutex> lk(c.m);
    size_t best = c.blocks.size();
    for (size_t i = 0; i < c.blocks.size(); ++i) {
      const size_t b = c.blocks[i].bytes;
      if (b >= bytes && b / 2 <= bytes && (best == c.blocks.size() || b < c.blocks[best].bytes)) best = i;
    }
    if (best < c.blocks.size()) {
      p = c.blocks[best].p;
      bytes = c.blocks[best].bytes;
      c.total -= bytes;
      c.blocks.erase(c.blocks.begin() + static_cast<std::ptrdiff_t>(best));
    }
  }
  if (!p) p = static_cast<float*>(std::aligned_alloc(64, bytes));
  if (!p) throw std::bad_alloc();
  if (zero) std::memset(p, 0, want);
  p_ = std::unique_ptr<float, Free>(p, Free{bytes});
}

void AlignedBuffer::Free::operator()(float* p) const {
  if (bytes >= kRecycleMin && bytes <= kCachedBytes) {
    BlockCache& c = block_cache();
    std::vector<float*> drop;
    {
      std::lock_guard<std::mutex> lk(c.m);
      // Make room, oldest first.
      size_t k = 0;
      while (k < c.blocks.size() &&
             (c.blocks.size() - k >= static_cast<size_t>(kCachedBlocks) || c.total + bytes > kCachedBytes)) {
        drop.push_back(c.blocks[k].p);
        c.total -= c.blocks[k].bytes;
        ++k;
      }
      c.blocks.erase(c.blocks.begin(), c.blocks.begin() + static_cast<std::ptrdiff_t>(k));
      c.blocks.push_back({p, bytes});
      c.total += bytes;
    }
    for (float* q : drop) std::free(q);
    return;
  }
  std::free(p);
}

size_t AlignedBuffer::release_cached() {
  BlockCache& c = block_cache();
  std::vector<BlockCache::Block> drop;
  size_t freed;
  {
    std::lock_guard<std::mutex> lk(c.m);
    drop.swap(c.blocks);
    freed = c.total;
    c.total = 0;
  }
  for (const auto& b : drop) std::free(b.p);
  return freed;
}

namespace {

int gates(CellKind k) { return k == CellKind::LSTM ? 4 : (k == CellKind::GRU ? 3 : 1); }

// A team splits the units of a step across threads that meet at a spinning barrier
// each step (0.2-0.3 us between two cores here). That pays from about LSTM(110) at
// batch 1, whose recurrent weights no longer fit one core's L1: below that the saving
// is small (LSTM(50): 30 -> 25 us) and a spinning barrier stalls badly when other
// runtimes' threads compete for the cores.
constexpr double kTeamMinStepFlops = 1e5;
constexpr double kTeamMinFlops = 1e6;

}  // namespace

bool is_rowwise(Act a) { return a == Act::Softmax || a == Act::LogSoftmax || a == Act::Sparsemax; }

int64_t gate_cols(int64_t H, int G) {
  const int64_t nf = H / kPanel;
  return nf * G * kPanel + round_up(G * (H - nf * kPanel), kPanel);
}

namespace {

// Column of gate g, unit j (kernels_impl.h's gidx, kept apart from the per-ISA code).
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

RecurrentLayer::RecurrentLayer(const LayerOptions& opt, int64_t D, int64_t H, const float* kernel,
                               const float* recurrent, const float* bias, int64_t bias_rows)
    : opt_(opt) {
  if (D < 1 || H < 1) throw std::invalid_argument("input size and units must be >= 1");
  if (D > (1 << 24) || H > (1 << 20)) throw std::invalid_argument("layer dimensions are too large");
  if (static_cast<int>(opt.act) < 0 || opt.act >= Act::Count_ || static_cast<int>(opt.rec_act) < 0 ||
      opt.rec_act >= Act::Count_)
    throw std::invalid_argument("unknown activation code");
  const int G = gates(opt.kind);
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
  W_ = pack_panels(kernel, D, H, G, 0, G);
  bx_ = pack_bias(bias, H, G);
  if (opt.kind == CellKind::GRU && !opt.reset_after) {
    U_ = pack_panels(recurrent, H, H, G, 0, 2);
    U2_ = pack_panels(recurrent, H, H, G, 2, 1);
  }
  // Stacked panels: [bias; kernel; recurrent], see CellDesc::XS.
  auto stacked = [&] {
    const int64_t K = 1 + D + H, N = G * H;
    std::vector<float> m(static_cast<size_t>(K * N), 0.0f);
    if (bias) std::copy(bias, bias + N, m.begin());
    std::copy(kernel, kernel + D * N, m.begin() + N);
    std::copy(recurrent, recurrent + H * N, m.begin() + (1 + D) * N);
    return pack_panels(m.data(), K, H, G, 0, G);
  };
  if (opt.kind != CellKind::GRU && D <= kFoldInputs) {
    U_ = stacked();
    desc_.XS = static_cast<int32_t>(1 + D);
  } else if (opt.kind != CellKind::GRU || opt.reset_after) {
    U_ = pack_panels(recurrent, H, H, G, 0, G);
  }
  if (opt.kind == CellKind::LSTM && D > kFoldInputs && (1 + D + H) * desc_.Z * 4 <= kStackedMaxBytes)
    Us_ = stacked();
  if (gru_ra) bh_ = pack_bias(bias ? bias + G * H : nullptr, H, G);
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

void RecurrentLayer::run(int64_t B, int64_t T, const float* x, const uint8_t* mask, const float* h0,
                         const float* c0, const LayerOutputs& out, bool zero_output_for_mask,
                         const float* prev0) const {
  if (B == 0) return;
  if (B < 0 || T < 1) throw std::invalid_argument("batch must be >= 0 and timesteps >= 1");
  const int64_t H = desc_.H, D = desc_.D, Hp = desc_.Hp, ldz = desc_.Z, ldh = desc_.Zh;
  const int64_t ystep = opt_.return_sequences ? T * H : H;

  const bool staged = is_rowwise(opt_.act) || is_rowwise(opt_.rec_act);
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
    a.team = 1;
    return a;
  };
  // Input projections for up to 256 KB of gate pre-activations at a time, which stay in
  // L2 until the steps read them (4 MB chunks measured 5-10% slower; narrow inputs
  // are projected inside each step: one step's worth).
  auto chunk_steps = [&](const CellDesc& d, int64_t nb) {
    int64_t tc = D <= kFoldInputs || d.XS ? 1 : (int64_t(1) << 16) / (nb * ldz);
    return tc < 1 ? 1 : (tc > T ? T : tc);
  };
  // The two h rows per sample start round_up(XS, 16) floats in when stacked.
  auto scratch_floats = [&](const CellDesc& d, int64_t nb, int64_t tc) {
    return tc * nb * ldz + nb * (8 * Hp + ldh + 2 * round_up(d.XS, kPanel)) + 8 * Hp + 64;
  };

  // Rows are independent, so batch rows are split across threads; each chunk runs the
  // same per-row arithmetic as a single-threaded call, which keeps results identical
  // for any thread count. Chunks are multiples of 4 rows (the kernels' row tile).
  int64_t chunks = flops(B, T) < kMinParallelFlops ? 1 : std::min<int64_t>(num_threads(), B / 4);
  if (chunks < 1) chunks = 1;

  // Too few rows to split, but enough arithmetic per step: a team splits the units
  // instead, each member keeping its share of the weights in its own core's caches
  // (LSTM(50): 41.6 KB of recurrent weights do not fit one 32 KB L1; half of them do).
  const int64_t blocks = (H + kPanel - 1) / kPanel;
  const int team = static_cast<int>(std::min<int64_t>(num_threads(), blocks));
  if (chunks == 1 && team > 1 && !staged && flops(B, 1) >= kTeamMinStepFlops && flops(B, T) >= kTeamMinFlops) {
    const int64_t tc = chunk_steps(desc_, B);
    AlignedBuffer scratch(scratch_floats(desc_, B, tc), /*zero=*/false);
    SpinBarrier barrier(team);
    RunArgs a = args(0, B, tc, scratch.data());
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
    const CellDesc& d = sdesc_.XS && nb >= kStackedMinRows ? sdesc_ : desc_;
    const int64_t tc = chunk_steps(d, nb);
    AlignedBuffer scratch(scratch_floats(d, nb, tc), /*zero=*/false);
    current_kernels().run(d, args(b0, nb, tc, scratch.data()));
  });
}

void run_bidirectional(const RecurrentLayer& fwd, const RecurrentLayer& bwd, MergeMode mode,
                       int64_t B, int64_t T, const float* x, const uint8_t* mask,
                       const float* h0f, const float* c0f, const float* h0b, const float* c0b,
                       float* merged, const LayerOutputs& of, const LayerOutputs& ob) {
  if (fwd.units() != bwd.units() || fwd.input_size() != bwd.input_size() || fwd.num_states() != bwd.num_states() ||
      fwd.options().return_sequences != bwd.options().return_sequences)
    throw std::invalid_argument("forward and backward layers disagree in shape or return_sequences");
  const bool seq = fwd.options().return_sequences;
  // Keras's Bidirectional sets zero_output_for_mask = return_sequences on both layers.
  // The directions are independent: one thread each (a direction's own row split then
  // runs inline, since the pool is busy).
  auto direction = [&](int i) {
    if (i == 0) fwd.run(B, T, x, mask, h0f, c0f, of, seq);
    else bwd.run(B, T, x, mask, h0b, c0b, ob, seq);
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
        for (int64_t j = 0; j < H; ++j) { float v = p[j]; p[j] = q[j]; q[j] = v; }
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
      case MergeMode::Sum: for (int64_t j = 0; j < H; ++j) merged[r * H + j] = f[j] + g[j]; break;
      case MergeMode::Mul: for (int64_t j = 0; j < H; ++j) merged[r * H + j] = f[j] * g[j]; break;
      case MergeMode::Ave: for (int64_t j = 0; j < H; ++j) merged[r * H + j] = (f[j] + g[j]) / 2.0f; break;
      case MergeMode::None: break;
    }
  }
}

}  // namespace pyrnn
