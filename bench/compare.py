"""pyrnn against TensorFlow, ONNX Runtime, PyTorch and OpenVINO on the issue's model configs.

    python bench/compare.py [--quick] [--configs lstm50,2xgru256] [--batches 1,8,64,1024]

Every peer runs the same Keras model (same weights) in this one process. Runners are
timed in interleaved rounds (each runner one timed block per round), so machine noise
hits all of them alike; the table gives medians. Each block starts on an idle process:
runtimes keep worker threads spinning for a while after a call (PyTorch's OpenMP team
for ~20 ms here, and a failed OpenVINO conversion burns both cores for ~1.5 s), which
would otherwise slow whichever runner comes next. Ratio = best fp32 peer / pyrnn.
OpenVINO is reported in its own column: on this CPU it picks bf16 by itself, so it is
not an fp32 peer. Peers that are not installed are skipped. Writes
bench/results/compare.md and bench/results/compare.png (latency against batch size), or
compare-TIER.md/.png for a lower tier forced with --isa TIER (PYRNN_ISA): the tier in use is
printed first and named in the table; with --isa avx2 PyTorch, numpy and OpenVINO are
restricted to AVX2 too (OpenVINO then cannot build the bf16 RNN it picks by default: its
column stays empty).

    python bench/compare.py --compute-types bfloat16,float16,int8 [--configs ...] [--batches ...]

compares pyrnn's reduced-precision compute types instead (pyrnn.load(path, compute_type=...))
with pyrnn float32 and the reduced-precision peers: OpenVINO with INFERENCE_PRECISION_HINT
f32, bf16 and f16 (read back from the compiled model), PyTorch dynamic int8
(torch.ao.quantization.quantize_dynamic) and ONNX Runtime dynamic int8
(onnxruntime.quantization.quantize_dynamic on the tf2onnx graph). Peers that do not quantize
the recurrent layers are skipped and named. Writes compare-lowp[-TIER].md/.png: latencies,
each compute type's speed-up over pyrnn float32 and over the best peer of its precision
class with the issue's targets, and every runner's error against Keras float32.
"""

from __future__ import annotations

import argparse
import inspect
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


from _machine import apply_isa, cpu_flags, cpu_name  # noqa: E402  (bench/, the script's own folder)

apply_isa(sys.argv[1:])  # before pyrnn and the peers load

import numpy as np  # noqa: E402

import pyrnn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
RESULTS = os.path.join(HERE, "results")

# name: (layers [(cell, units, return_sequences)], T, F, head units, head activation)
CONFIGS = {
    "lstm50": ([("LSTM", 50, False)], 49, 1, 46, "softmax"),
    "simplernn50": ([("SimpleRNN", 50, False)], 49, 1, 46, "softmax"),
    "4xsimplernn50": ([("SimpleRNN", 50, True)] * 3 + [("SimpleRNN", 50, False)], 100, 1, 1, "linear"),
    "2xlstm50": ([("LSTM", 50, True), ("LSTM", 50, False)], 100, 1, 1, "linear"),
    "2xlstm256": ([("LSTM", 256, True), ("LSTM", 256, False)], 120, 33, 10, "softmax"),
    "2xgru256": ([("GRU", 256, True), ("GRU", 256, False)], 120, 33, 10, "softmax"),
}
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def describe(name: str) -> str:
    layers, T, F, head, act = CONFIGS[name]
    parts, i = [], 0
    while i < len(layers):
        j = i
        while j < len(layers) and layers[j][:2] == layers[i][:2]:
            j += 1
        n = j - i
        parts.append(f"{n}×{layers[i][0]}({layers[i][1]})" if n > 1 else f"{layers[i][0]}({layers[i][1]})")
        i = j
    return f"{' '.join(parts)} T={T} F={F} → Dense({head}{', softmax' if act == 'softmax' else ''})"


def flops(name: str, batch: int) -> float:
    """2·G·H·(I+H) per step per sequence for each recurrent layer (the issue's count)."""
    layers, T, F, _, _ = CONFIGS[name]
    total, width = 0.0, F
    for cell, units, _ in layers:
        total += 2 * GATES[cell] * units * (width + units) * T * batch
        width = units
    return total


def build_keras(name: str):
    import keras

    layers, T, F, head, act = CONFIGS[name]
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((T, F))] + [getattr(keras.layers, c)(u, return_sequences=s)
                                                       for c, u, s in layers]
                             + [keras.layers.Dense(head, activation=act)])
    rng = np.random.default_rng(0)
    new = []
    for w in model.get_weights():  # moderate weights: no saturation, SimpleRNN stays contractive
        fan = w.shape[0] if w.ndim == 2 else 1
        new.append(rng.uniform(-1, 1, size=w.shape).astype(np.float32) * (0.9 / np.sqrt(max(fan, 1))))
    model.set_weights(new)
    return model


# ---- runners -------------------------------------------------------------------------------


def run_pyrnn(model, tmp: str, compute_type: Optional[str] = None) -> Callable:
    """pyrnn on the model's .keras file; `compute_type` (None: the default, float32) goes
    to pyrnn.load."""
    path = os.path.join(tmp, f"{model.name}.keras")
    if not os.path.exists(path):
        model.save(path)
    m = pyrnn.load(path) if compute_type is None else pyrnn.load(path, compute_type=compute_type)
    return m.predict


def pyrnn_has_compute_type() -> bool:
    """Whether this pyrnn build's load() takes compute_type=."""
    try:
        return "compute_type" in inspect.signature(pyrnn.load).parameters
    except (TypeError, ValueError):
        return False


def run_tf_function(model) -> Callable:
    import tensorflow as tf

    fn = tf.function(lambda x: model(x, training=False))
    return lambda x: fn(tf.constant(x)).numpy()


def run_keras_predict(model) -> Callable:
    return lambda x: model.predict(x, verbose=0, batch_size=len(x))


def _onnx(model, T: int, F: int):
    import tensorflow as tf
    import tf2onnx

    spec = (tf.TensorSpec((None, T, F), tf.float32, name="x"),)
    fn = tf.function(lambda x: model(x, training=False))
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=17)
    return proto


def run_ort(proto) -> Callable:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = pyrnn.get_num_threads()
    opts.inter_op_num_threads = 1
    # Idle ORT workers would otherwise spin between calls and steal the cores the
    # interleaved peers run on.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def run_openvino(proto, tmp: str) -> Callable:
    """OpenVINO on the tf2onnx graph with its default precision (bf16 on a CPU with
    AVX512_BF16/AMX)."""
    import openvino as ov

    path = os.path.join(tmp, "model.onnx")
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())
    return run_openvino_model(ov.convert_model(path))[0]


def openvino_model(proto, tmp: str, net=None, example: Optional[np.ndarray] = None):
    """OpenVINO's model of the network and where it came from: the tf2onnx graph, else
    (tf2onnx writes GRU and SimpleRNN as ONNX Loops, which OpenVINO's ONNX frontend
    refuses) the PyTorch module `net` through OpenVINO's PyTorch frontend, traced on
    `example` with batch, steps and features left dynamic."""
    import openvino as ov

    errors = []
    if proto is not None:
        path = os.path.join(tmp, "model.onnx")
        with open(path, "wb") as f:
            f.write(proto.SerializeToString())
        try:
            return ov.convert_model(path), "tf2onnx graph"
        except Exception as exc:  # noqa: BLE001 - fall back to the PyTorch frontend
            errors.append(f"ONNX frontend: {str(exc).splitlines()[-1] if str(exc) else type(exc).__name__}")
    if net is not None and example is not None:
        import torch

        try:
            return ov.convert_model(net, example_input=torch.from_numpy(example)), "PyTorch module"
        except Exception as exc:  # noqa: BLE001
            errors.append(f"PyTorch frontend: {type(exc).__name__}: {exc}")
    raise RuntimeError("; ".join(errors) or "no model to convert")


def run_openvino_model(ov_model, precision: Optional[str] = None):
    """(predict, the precision OpenVINO really uses) for `ov_model` compiled on the CPU with
    INFERENCE_PRECISION_HINT = `precision` ("f32", "bf16", "f16"; None: its default), read
    back from the compiled model."""
    import openvino as ov

    cfg = {"INFERENCE_NUM_THREADS": pyrnn.get_num_threads()}
    if precision is not None:
        cfg["INFERENCE_PRECISION_HINT"] = precision
    compiled = ov.Core().compile_model(ov_model, "CPU", cfg)
    used = compiled.get_property("INFERENCE_PRECISION_HINT")
    req = compiled.create_infer_request()
    out = compiled.output(0)
    return (lambda x: req.infer([x])[out]), getattr(used, "get_type_name", lambda: str(used))()


def build_torch(model):
    """The same network in PyTorch (nn.LSTM / nn.GRU / nn.RNN + nn.Linear), same weights, as
    one nn.Module: it serves the fp32 PyTorch peer, dynamic int8 quantization and
    OpenVINO's PyTorch frontend."""
    import torch

    class Net(torch.nn.Module):
        def __init__(self, mods):
            super().__init__()
            self.mods = torch.nn.ModuleList(m for _, m, _ in mods)
            self.kinds = [(kind, opt) for kind, _, opt in mods]

        def forward(self, t):
            for (kind, opt), mod in zip(self.kinds, self.mods):
                if kind == "rnn":
                    t, _ = mod(t)
                    if not opt:
                        t = t[:, -1]
                else:
                    t = mod(t)
                    if opt == "softmax":
                        t = torch.softmax(t, dim=-1)
            return t

    mods = []
    for layer in model.layers:
        cls = type(layer).__name__
        w = [np.asarray(v) for v in layer.get_weights()]
        if cls == "Dense":
            lin = torch.nn.Linear(*w[0].shape)
            lin.weight.data = torch.from_numpy(w[0].T.copy())
            lin.bias.data = torch.from_numpy(w[1].copy())
            mods.append(("dense", lin, layer.get_config()["activation"]))
            continue
        k, r, b = w
        H = r.shape[0]
        if cls == "GRU":  # Keras z, r, h -> torch r, z, n; reset_after=True is torch's form
            perm = lambda m, H=H: np.concatenate([m[..., H:2 * H], m[..., :H], m[..., 2 * H:]], axis=-1)  # noqa: E731
            k, r, b = perm(k), perm(r), perm(b)
            rnn = torch.nn.GRU(k.shape[0], H, batch_first=True)
            bi, bh = b[0], b[1]
        else:
            rnn = (torch.nn.LSTM if cls == "LSTM" else torch.nn.RNN)(k.shape[0], H, batch_first=True)
            bi, bh = b, np.zeros_like(b)
        rnn.weight_ih_l0.data = torch.from_numpy(k.T.copy())
        rnn.weight_hh_l0.data = torch.from_numpy(r.T.copy())
        rnn.bias_ih_l0.data = torch.from_numpy(np.ascontiguousarray(bi))
        rnn.bias_hh_l0.data = torch.from_numpy(np.ascontiguousarray(bh))
        mods.append(("rnn", rnn, layer.return_sequences))
    return Net(mods).eval()


def run_torch(model, net=None) -> Callable:
    """PyTorch on `net` (default: build_torch(model)), inference mode."""
    import torch

    torch.set_num_threads(pyrnn.get_num_threads())
    net = build_torch(model) if net is None else net

    @torch.inference_mode()
    def forward(x):
        return net(torch.from_numpy(x)).numpy()

    return forward


def torch_int8(net):
    """PyTorch dynamic int8 (torch.ao.quantization.quantize_dynamic: int8 weights,
    activations quantized per call) of `net`, and the names of its layers afterwards.
    Dynamic quantization has LSTM, GRU and Linear modules but no RNN (only RNNCell), so an
    nn.RNN stays float32."""
    import copy
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notices
        q = torch.ao.quantization.quantize_dynamic(copy.deepcopy(net), {torch.nn.LSTM, torch.nn.GRU,
                                                                        torch.nn.RNN, torch.nn.Linear},
                                                   dtype=torch.qint8)
    kinds = [("int8 " if "quantized" in type(m).__module__ else "float32 ") + type(m).__name__ for m in q.mods]
    return q, kinds


QUANT_OPS = {"DynamicQuantizeLSTM", "MatMulInteger", "DynamicQuantizeMatMul", "QLinearMatMul",
             "MatMulIntegerToFloat", "QGemm", "ConvInteger", "QLinearConv", "QAttention"}


def _op_counts(graph, counts=None):
    """Node op types of an ONNX graph and of its subgraphs (Loop/If/Scan bodies)."""
    counts = {} if counts is None else counts
    for node in graph.node:
        counts[node.op_type] = counts.get(node.op_type, 0) + 1
        for attr in node.attribute:
            if attr.HasField("g"):
                _op_counts(attr.g, counts)
            for g in attr.graphs:
                _op_counts(g, counts)
    return counts


def ort_int8(proto, tmp: str):
    """onnxruntime.quantization.quantize_dynamic (int8 weights, uint8 activations quantized
    per call, subgraphs included) of the tf2onnx graph: (quantized ModelProto, its
    quantized op types with counts, whether a recurrent layer got quantized). ORT has a
    quantized LSTM (DynamicQuantizeLSTM) but no quantized GRU or RNN: tf2onnx writes
    those as Loops whose MatMuls read outer-scope weights, which the quantizer leaves
    float32, so for them only the Dense head turns int8."""
    import logging

    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    src, dst = os.path.join(tmp, "fp32.onnx"), os.path.join(tmp, "int8.onnx")
    onnx.save(proto, src)
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)  # "consider pre-processing" notice
    try:
        quantize_dynamic(src, dst, weight_type=QuantType.QInt8, extra_options={"EnableSubgraph": True})
    finally:
        logging.getLogger().setLevel(level)
    q = onnx.load(dst)
    counts = _op_counts(q.graph)
    quant = {k: v for k, v in counts.items() if k in QUANT_OPS}
    recurrent = counts.get("DynamicQuantizeLSTM", 0) > 0 or any(
        n.op_type in QUANT_OPS for node in q.graph.node for a in node.attribute if a.HasField("g") for n in a.g.node)
    return q, quant, recurrent


# ---- timing --------------------------------------------------------------------------------


def settle(limit: float = 5.0, window: float = 0.01) -> None:
    """Waits (up to `limit` seconds) until this process's threads are idle: under 10% of
    one core's time used over a `window`-second sleep."""
    end = time.perf_counter() + limit
    while time.perf_counter() < end:
        c0 = time.process_time()
        time.sleep(window)
        if time.process_time() - c0 < 0.1 * window:
            return


def measure(runners: Dict[str, Callable], x: np.ndarray, rounds: int, budget: float) -> Dict[str, float]:
    inner = {}
    for k, fn in runners.items():
        settle()
        fn(x)
        t0 = time.perf_counter()
        fn(x)
        one = max(time.perf_counter() - t0, 1e-7)
        inner[k] = max(1, min(2000, int(budget / one)))
    times: Dict[str, List[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for k, fn in runners.items():
            settle()
            t0 = time.perf_counter()
            for _ in range(inner[k]):
                fn(x)
            times[k].append((time.perf_counter() - t0) / inner[k])
    return {k: statistics.median(v) for k, v in times.items()}


def fmt(s: Optional[float]) -> str:
    if s is None:
        return "—"
    return f"{s * 1e6:.1f} µs" if s < 1e-3 else (f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s")


FP32_PEERS = ["Keras predict", "tf.function", "ORT", "PyTorch"]


def gemm_peak() -> float:
    """This machine's fp32 GEMM rate in GFLOP/s on all cores: the best of numpy's BLAS and
    PyTorch on 2048 x 2048 products. Measured after the timings, since BLAS worker
    threads keep spinning for a while after a call."""
    n, best = 2048, 0.0
    a = np.random.default_rng(2).normal(size=(n, n)).astype(np.float32)
    mms = [lambda: a @ a]
    try:
        import torch

        torch.set_num_threads(os.cpu_count() or 1)
        ta = torch.from_numpy(a)
        mms.append(lambda: torch.mm(ta, ta))
    except ImportError:
        pass
    for mm in mms:
        mm()
        for _ in range(5):
            t0 = time.perf_counter()
            mm()
            best = max(best, 2.0 * n ** 3 / (time.perf_counter() - t0) / 1e9)
    return best


def verdict(name: str, batch: int, ratio: Optional[float], pyrnn_s: float, pct: float) -> str:
    """The issue's target for this cell, and whether the measurement meets it."""
    if name == "lstm50" and batch == 1:
        ok = pyrnn_s <= 15e-6 and (ratio or 0) >= 3
        return f"{'met' if ok else 'miss'} (≤ 15 µs and ≥ 3×)"
    if batch <= 8:
        return f"{'met' if (ratio or 0) >= 3 else 'miss'} (≥ 3×)"
    ok = (ratio or 0) >= 1.5 or pct >= 85
    return f"{'met' if ok else 'miss'} (≥ 1.5× or ≥ 85% of peak)"


def plot(series: Dict[str, Dict[str, List]], machine: str, path: str) -> None:
    """Latency against batch size, one panel per config, pyrnn's lines bold."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    n = len(series)
    ncol = min(3, n)
    nrow = (n + ncol - 1) // ncol
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.6 * nrow), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (name, per) in zip(axes.flat, series.items()):
        for k, pts in per.items():
            bs, ts = zip(*pts)
            ax.plot(bs, [t * 1e3 for t in ts], marker="o", label=k, linewidth=2.5 if k.startswith("pyrnn") else 1.2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(describe(name), fontsize=8)
        ax.set_xlabel("batch")
        ax.set_ylabel("latency (ms)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"Latency per call — {machine}", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


# ---- reduced precision (--compute-types) -------------------------------------------------

LOWP_TYPES = ("bfloat16", "float16", "int8")
_SPELLINGS = {"float32": "float32", "fp32": "float32", "f32": "float32", "bfloat16": "bfloat16", "bf16": "bfloat16",
              "float16": "float16", "fp16": "float16", "f16": "float16", "half": "float16", "int8": "int8"}
# The peers of each pyrnn compute type: its precision class (float16 is held against the
# 16-bit class, OpenVINO bf16 and f16). Best of the class = the fastest that really ran
# at that precision.
CLASS_PEERS = {"bfloat16": ["OpenVINO bf16"], "float16": ["OpenVINO f16", "OpenVINO bf16"],
               "int8": ["PyTorch int8", "ORT int8"]}
LOWP_COLS = ["pyrnn float32", "pyrnn bfloat16", "pyrnn float16", "pyrnn int8",
             "OpenVINO f32", "OpenVINO bf16", "OpenVINO f16", "PyTorch int8", "ORT int8"]
OV_HINTS = {"OpenVINO f32": "f32", "OpenVINO bf16": "bf16", "OpenVINO f16": "f16"}


def one_line(exc: BaseException) -> str:
    """An exception's message on one line: its first line that says something (OpenVINO's
    start with "Exception from src/..." or "Check 'false' failed at src/...")."""
    lines = [ln.strip() for ln in str(exc).splitlines()
             if ln.strip() and not ln.startswith(("Exception from", "Check '"))]
    return (lines[0] if lines else type(exc).__name__)[:200]


def parse_compute_types(text: str) -> List[str]:
    """float32 (always: the baseline) and the reduced types named in `text`, canonical."""
    named = []
    for t in text.split(","):
        t = t.strip().lower()
        if t and t not in _SPELLINGS:
            raise SystemExit(f"--compute-types: unknown {t!r}; expected float32, bfloat16, float16, int8")
        if t:
            named.append(_SPELLINGS[t])
    return ["float32"] + [c for c in LOWP_TYPES if c in named]


def cpu_busy() -> tuple:
    """(CPU seconds the whole machine has spent busy, this process's CPU seconds), for the
    share of the cores other processes took during a run (Linux; (0, 0) elsewhere)."""
    try:
        with open("/proc/stat") as f:
            vals = [int(v) for v in f.readline().split()[1:9]]
        busy = (sum(vals) - vals[3] - vals[4]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return 0.0, 0.0
    t = os.times()
    return busy, t.user + t.system


def others_share(busy: float, own: float, wall: float) -> float:
    """The share of all CPUs that other processes used over `wall` seconds, from the
    machine's and this process's CPU-second deltas (10 ms ticks: coarse for short spans)."""
    return max(0.0, busy - own) / (max(wall, 1e-9) * (os.cpu_count() or 1))


NOISY, NOISY_ATTEMPTS = 0.15, 3  # a row measured while others took > 15% of the CPUs is measured again


def wait_quiet(limit: float = 600.0, window: float = 2.0) -> None:
    """Waits (up to `limit` seconds) until other processes use under 5% of the CPUs over a
    `window`-second span (this process idle meanwhile)."""
    end = time.perf_counter() + limit
    while time.perf_counter() < end:
        b0, o0, w0 = *cpu_busy(), time.perf_counter()
        time.sleep(window)
        b1, o1, w1 = *cpu_busy(), time.perf_counter()
        if others_share(b1 - b0, o1 - o0, w1 - w0) < 0.05:
            return


def lowp_targets(name: str, b: int, ct: str, t: float, t32: float, peer_t: Optional[float]) -> str:
    """The issue's reduced-precision targets for this cell, met or missed (ratios from one run)."""
    out = []
    ok = lambda c: "met" if c else "miss"  # noqa: E731
    if b == 1:
        lim = 0.6 if name == "lstm50" else 0.75
        out.append(f"{ok(t <= lim * t32)} (time ≤ {lim}× float32)")
    if ct == "bfloat16" and name in ("2xlstm256", "2xgru256"):
        out.append(f"{ok(peer_t / t >= 1.5)} (≥ 1.5× OpenVINO bf16)" if peer_t else "n/a (no OpenVINO bf16)")
    if ct == "int8":
        if b >= 64:
            out.append(f"{ok(t32 / t >= 1.5)} (≥ 1.5× float32)")
        need = 2.0 if b <= 8 else 1.5
        out.append(f"{ok(peer_t / t >= need)} (≥ {need:g}× int8 peers)" if peer_t else "n/a (no int8 peer)")
    return "; ".join(out) or "—"


def main_lowp(args, names: List[str], batches: List[int], rounds: int, budget: float, tier: str) -> int:
    """pyrnn's compute types against the reduced-precision peers: OpenVINO with
    INFERENCE_PRECISION_HINT f32/bf16/f16, PyTorch dynamic int8, ONNX Runtime dynamic int8."""
    cts = parse_compute_types(args.compute_types)
    best_tier = tier == pyrnn.config()["isa_supported"][-1]
    stem = "compare-lowp" if best_tier else f"compare-lowp-{tier}"
    flags = cpu_flags()
    lowp_flags = ("avx512_vnni", "avx_vnni", "amx_int8", "avx512_bf16", "amx_bf16", "avx512_fp16", "amx_fp16")
    features = f"CPU reduced-precision features: {' '.join(f for f in lowp_flags if f in flags) or 'none'}" + (
        f" (not: {' '.join(f for f in lowp_flags if f not in flags)})" if set(lowp_flags) - flags else "")
    print(f"{cpu_name()}: pyrnn tier {tier}; compute types {', '.join(cts)}; {features}", flush=True)
    has_ct = pyrnn_has_compute_type()
    if not has_ct:
        print("pyrnn compute_type not available in this build: pyrnn runs float32 only; peers still measured",
              flush=True)
    info = {k: v for k, v in pyrnn.config().items() if "compute" in k}
    if info:
        print(f"pyrnn config: {info}", flush=True)
    header = [features + "."]
    try:
        import openvino as ov

        default = ov.Core().get_property("CPU", "INFERENCE_PRECISION_HINT")
        header.append(f"OpenVINO {ov.__version__.split('-')[0]}: its default precision on this CPU is "
                      f"{default.get_type_name()}; here every hint is set explicitly and read back from the "
                      "compiled model.")
    except ImportError:
        pass
    if not ({"avx512_bf16", "amx_bf16"} & flags):
        header.append("This CPU has neither AVX512_BF16 nor AMX-BF16: OpenVINO bf16 is not native here (the "
                      "precision read back says what it ran).")
    if tier == "avx2":
        header.append("Tier avx2: pyrnn, PyTorch (oneDNN, FBGEMM's int8 kernels), numpy and OpenVINO (its CPU "
                      "plugin is built on oneDNN and follows ONEDNN_MAX_CPU_ISA) are restricted to AVX2; ONNX "
                      "Runtime has no such switch and keeps its AVX-512/VNNI kernels. OpenVINO bf16 and f16 are "
                      "not native without AVX512_BF16/AMX-BF16 or AVX512_FP16: under the AVX2 cap it cannot build "
                      "their RNN primitives (it still reports bf16 as its default, from CPUID), so the 16-bit "
                      "types have no peer on this tier.")
    tmp = tempfile.mkdtemp()
    rows, series, agrees, notes, excluded = [], {}, {}, {}, {}
    machine = f"{cpu_name()}, {os.cpu_count()} CPUs, pyrnn {pyrnn.__version__}, " \
              f"ISA {tier}, {pyrnn.get_num_threads()} threads"
    busy0, own0, wall0 = *cpu_busy(), time.perf_counter()
    for name in names:
        model = build_keras(name)
        _, T, F, _, _ = CONFIGS[name]
        note = notes.setdefault(name, [])
        excluded[name] = set()
        runners: Dict[str, Callable] = {"pyrnn float32": run_pyrnn(model, tmp)}
        for ct in cts[1:]:
            if not has_ct:
                break
            try:
                runners[f"pyrnn {ct}"] = run_pyrnn(model, tmp, ct)
            except Exception as exc:  # noqa: BLE001 - reported, not fatal
                note.append(f"pyrnn {ct} skipped ({type(exc).__name__}: {exc})")
        xchk = np.random.default_rng(1).normal(size=(4, T, F)).astype(np.float32)
        net = proto = None
        try:
            net = build_torch(model)
        except ImportError:
            note.append("PyTorch not installed")
        try:
            proto = _onnx(model, T, F)
        except Exception as exc:  # noqa: BLE001
            note.append(f"no ONNX graph ({type(exc).__name__}: {exc})")
        hints = ["OpenVINO f32"] + (["OpenVINO bf16"] if {"bfloat16", "float16"} & set(cts) else []) \
            + (["OpenVINO f16"] if "float16" in cts else [])
        try:
            ovm, source = openvino_model(proto, tmp, net, xchk)
            used = []
            for key in hints:
                try:
                    runners[key], got = run_openvino_model(ovm, OV_HINTS[key])
                except Exception as exc:  # noqa: BLE001 - e.g. bf16 under the AVX2 cap
                    used.append(f"{OV_HINTS[key]} → failed to compile ({one_line(exc)})")
                    continue
                used.append(f"{OV_HINTS[key]} → {got}")
                if got != OV_HINTS[key]:
                    excluded[name].add(key)
            note.append(f"OpenVINO from the {source}; hint → precision used: {', '.join(used)}")
        except ImportError:
            note.append("OpenVINO not installed")
        except Exception as exc:  # noqa: BLE001
            note.append(f"OpenVINO skipped ({one_line(exc)})")
        if "int8" in cts and net is not None:
            import torch

            q, kinds = torch_int8(net)
            if any(k.startswith("int8") and not k.endswith("Linear") for k in kinds):
                runners["PyTorch int8"] = run_torch(model, q)
                note.append(f"PyTorch int8 ({torch.backends.quantized.engine} engine): {', '.join(kinds)}")
            else:
                note.append(f"PyTorch int8 skipped: no recurrent layer quantized ({', '.join(kinds)}; dynamic "
                            "quantization has no int8 nn.RNN)")
        if "int8" in cts and proto is not None:
            try:
                qproto, quant, recurrent = ort_int8(proto, tmp)
                desc = ", ".join(f"{k} ×{v}" for k, v in sorted(quant.items())) or "nothing"
                if recurrent:
                    runners["ORT int8"] = run_ort(qproto)
                    note.append(f"ORT int8 quantized ops: {desc}")
                else:
                    note.append(f"ORT int8 skipped: quantize_dynamic quantized only {desc} (the Dense head); the "
                                "recurrent layers stay float32 (ORT has no quantized GRU/RNN; tf2onnx's Loop body "
                                "is not quantized)")
            except Exception as exc:  # noqa: BLE001
                note.append(f"ORT int8 skipped ({type(exc).__name__}: {exc})")
        for line in note:
            print(f"{name}: {line}", flush=True)
        ref = np.asarray(model(xchk))
        agrees[name] = {k: float(np.max(np.abs(fn(xchk) - ref))) for k, fn in runners.items()}
        print(f"{name}: max |difference| from Keras: "
              + ", ".join(f"{k} {v:.1e}" for k, v in agrees[name].items()), flush=True)
        for b in batches:
            x = np.random.default_rng(0).normal(size=(b, T, F)).astype(np.float32)
            base = runners["pyrnn float32"](x)
            delta = {ct: float(np.max(np.abs(runners[f"pyrnn {ct}"](x) - base)))
                     for ct in cts[1:] if f"pyrnn {ct}" in runners}
            for attempt in range(NOISY_ATTEMPTS):
                busy_b, own_b, wall_b = *cpu_busy(), time.perf_counter()
                med = measure(runners, x, rounds, budget)
                busy_e, own_e, wall_e = *cpu_busy(), time.perf_counter()
                med["others"] = others_share(busy_e - busy_b, own_e - own_b, wall_e - wall_b)
                if med["others"] <= NOISY or attempt == NOISY_ATTEMPTS - 1:
                    break
                print(f"{name} B={b}: other processes used {100 * med['others']:.0f}% of the CPUs; measuring "
                      "again once the machine is quiet", flush=True)
                wait_quiet()
            rows.append((name, b, med, delta))
            for k, v in med.items():
                if k != "others":
                    series.setdefault(name, {}).setdefault(k, []).append((b, v))
            line = " | ".join(f"{k} {fmt(v)}" for k, v in med.items() if k != "others")
            line += f" | others {100 * med['others']:.0f}%"
            ratios = " | ".join(f"{ct} {med['pyrnn float32'] / med[f'pyrnn {ct}']:.2f}x f32 (|Δ| {d:.1e})"
                                for ct, d in delta.items())
            print(f"{describe(name)} B={b}: {line}" + (f" || {ratios}" if ratios else ""), flush=True)
    busy1, own1, wall1 = *cpu_busy(), time.perf_counter()
    others = others_share(busy1 - busy0, own1 - own0, wall1 - wall0)
    os.makedirs(args.out, exist_ok=True)
    cols = [c for c in LOWP_COLS if any(c in med for _, _, med, _ in rows)]
    lines = [f"Machine: {machine}. Medians of {rounds} interleaved rounds (all runners in one process, each "
             f"block started on an idle process). Other processes used {100 * others:.0f}% of the CPUs during "
             "the run (per row: the others' CPU column; a row measured while they took over "
             f"{100 * NOISY:.0f}% is measured again after a quiet spell, up to {NOISY_ATTEMPTS} times).", ""] \
        + header + ["", "Latency per call:", "",
             "| model | batch | " + " | ".join(cols) + " | others' CPU |", "|---|---|" + "---|" * (len(cols) + 1)]
    for name, b, med, _ in rows:
        lines.append(f"| {describe(name)} | {b} | " + " | ".join(fmt(med.get(c)) for c in cols)
                     + f" | {100 * med['others']:.0f}% |")
    lines += ["", "Each pyrnn compute type: speed-up over pyrnn float32, over the best peer of its precision class "
              "(bfloat16: OpenVINO bf16; float16: OpenVINO f16 and bf16; int8: PyTorch dynamic int8 and ORT "
              "dynamic int8), the largest |difference| from pyrnn float32 on the timed input, and the issue's "
              "targets:", "",
              "| model | batch | compute type | pyrnn | vs pyrnn float32 | best class peer | vs peer | "
              "max |Δ| vs float32 | targets |", "|---|---|---|---|---|---|---|---|---|"]
    for name, b, med, delta in rows:
        t32 = med["pyrnn float32"]
        for ct in cts[1:]:
            t = med.get(f"pyrnn {ct}")
            if t is None:
                continue
            peers = [(med[p], p) for p in CLASS_PEERS[ct] if p in med and p not in excluded[name]]
            peer_t, peer = min(peers) if peers else (None, None)
            vs_peer = f"**{peer_t / t:.2f}×**" if peer_t else "—"
            lines.append(f"| {describe(name)} | {b} | {ct} | {fmt(t)} | **{t32 / t:.2f}×** | "
                         f"{f'{peer} {fmt(peer_t)}' if peer else '—'} | {vs_peer} | {delta[ct]:.1e} | "
                         f"{lowp_targets(name, b, ct, t, t32, peer_t)} |")
    if not has_ct:
        lines.append("| (pyrnn compute_type not available in this build) | | | | | | | | |")
    lines += ["", "Largest |difference| from Keras float32 on a check batch of 4 (float32 runners ~1e-7; a "
              "reduced-precision runner's error is part of its result):", ""]
    for name, agree in agrees.items():
        lines.append(f"- {name}: " + ", ".join(f"{k} {v:.1e}" for k, v in agree.items()))
    lines += ["", "What each peer ran:", ""]
    for name, note in notes.items():
        lines += [f"- {name}: {n}" for n in note]
    with open(os.path.join(args.out, stem + ".md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(series, machine, os.path.join(args.out, stem + ".png"))
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds, shorter timed blocks")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--batches", default="1,8,64,1024")
    ap.add_argument("--no-keras-predict", action="store_true", help="skip Keras predict (slow, ~50 ms per call)")
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("--isa", default=None,
                    help="pyrnn tier (sets PYRNN_ISA; avx2 also restricts PyTorch and numpy to AVX2)")
    ap.add_argument("--compute-types", default=None, metavar="LIST",
                    help="reduced-precision comparison instead: pyrnn float32 and each listed compute type "
                         "(bfloat16, float16, int8) against OpenVINO f32/bf16/f16 and PyTorch/ORT dynamic int8; "
                         "writes compare-lowp[-TIER].md/.png")
    args = ap.parse_args(argv)
    tier = pyrnn.config()["isa"]
    if args.compute_types is not None:
        rounds, budget = (3, 0.02) if args.quick else (7, 0.05)
        return main_lowp(args, [c for c in args.configs.split(",") if c],
                         [int(b) for b in args.batches.split(",")], rounds, budget, tier)
    # The best tier writes compare.md/.png; a forced lower tier writes compare-TIER.md/.png.
    stem = "compare" if tier == pyrnn.config()["isa_supported"][-1] else f"compare-{tier}"
    print(f"{cpu_name()}: pyrnn tier {tier} (supported: {', '.join(pyrnn.config()['isa_supported'])})"
          + ("; PyTorch/numpy restricted to AVX2" if tier == "avx2" else ""), flush=True)
    names = [c for c in args.configs.split(",") if c]
    batches = [int(b) for b in args.batches.split(",")]
    rounds, budget = (3, 0.02) if args.quick else (7, 0.05)
    tmp = tempfile.mkdtemp()
    rows, series = [], {}
    machine = f"{cpu_name()}, {os.cpu_count()} CPUs, pyrnn {pyrnn.__version__}, " \
              f"ISA {pyrnn.config()['isa']}, {pyrnn.get_num_threads()} threads"
    for name in names:
        model = build_keras(name)
        _, T, F, _, _ = CONFIGS[name]
        runners: Dict[str, Callable] = {"pyrnn": run_pyrnn(model, tmp)}
        if not args.no_keras_predict:
            runners["Keras predict"] = run_keras_predict(model)
        runners["tf.function"] = run_tf_function(model)
        proto = None
        try:
            proto = _onnx(model, T, F)
            runners["ORT"] = run_ort(proto)
        except Exception as exc:  # noqa: BLE001 - a peer that cannot run is reported, not fatal
            print(f"{name}: ORT skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
        try:
            runners["PyTorch"] = run_torch(model)
        except ImportError:
            pass
        if proto is not None:
            try:
                runners["OpenVINO (bf16)"] = run_openvino(proto, tmp)
            except ImportError:
                pass
            except Exception as exc:  # noqa: BLE001
                print(f"{name}: OpenVINO skipped ({one_line(exc)})", file=sys.stderr)
        # Same numbers first: every fp32 peer must agree with Keras on this input.
        xchk = np.random.default_rng(1).normal(size=(4, T, F)).astype(np.float32)
        ref = np.asarray(model(xchk))
        agree = {k: float(np.max(np.abs(fn(xchk) - ref))) for k, fn in runners.items()}
        for b in batches:
            if b >= 1024 and "Keras predict" in runners:
                runners.pop("Keras predict")
            x = np.random.default_rng(0).normal(size=(b, T, F)).astype(np.float32)
            med = measure(runners, x, rounds, budget)
            peers = [med[k] for k in FP32_PEERS if k in med]
            best = min(peers) if peers else None
            gflops = flops(name, b) / med["pyrnn"] / 1e9
            rows.append((name, b, med, best, gflops, agree))
            for k, v in med.items():
                series.setdefault(name, {}).setdefault(k, []).append((b, v))
            line = " | ".join(f"{k} {fmt(v)}" for k, v in med.items())
            print(f"{describe(name)} B={b}: {line} | ratio {best / med['pyrnn']:.2f}x | pyrnn {gflops:.1f} GFLOP/s",
                  flush=True)
    os.makedirs(args.out, exist_ok=True)
    peak = gemm_peak()
    cols = ["pyrnn"] + FP32_PEERS + ["OpenVINO (bf16)"]
    lines = [f"Machine: {machine}. Medians of {rounds} interleaved rounds; ratio = best fp32 peer / pyrnn. "
             f"Measured fp32 GEMM peak (best of numpy BLAS and PyTorch, 2048³, all cores): {peak:.0f} GFLOP/s.", "",
             "| model | batch | " + " | ".join(cols) + " | ratio | pyrnn GFLOP/s | % of peak | target |",
             "|---|---|" + "---|" * len(cols) + "---|---|---|---|"]
    for name, b, med, best, gflops, _ in rows:
        cells = [fmt(med.get(c)) for c in cols]
        r = best / med["pyrnn"] if best else None
        ratio = f"**{r:.2f}×**" if r else "—"
        pct = 100.0 * gflops / peak
        lines.append(f"| {describe(name)} | {b} | " + " | ".join(cells) +
                     f" | {ratio} | {gflops:.1f} | {pct:.0f}% | {verdict(name, b, r, med['pyrnn'], pct)} |")
    agree_lines = ["", "Largest |difference| from Keras on a check batch (fp32 peers must be ~1e-6):", ""]
    seen = set()
    for name, _, _, _, _, agree in rows:
        if name not in seen:
            seen.add(name)
            agree_lines.append(f"- {name}: " + ", ".join(f"{k} {v:.1e}" for k, v in agree.items()))
    with open(os.path.join(args.out, stem + ".md"), "w") as f:
        f.write("\n".join(lines + agree_lines) + "\n")
    print("\n".join(lines + agree_lines))
    plot(series, machine, os.path.join(args.out, stem + ".png"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
