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
printed first and named in the table; with --isa avx2 PyTorch and numpy are restricted to
AVX2 too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from typing import Callable, Dict, List, Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")


from _machine import apply_isa, cpu_name  # noqa: E402  (bench/, the script's own folder)

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


def run_pyrnn(model, tmp: str) -> Callable:
    path = os.path.join(tmp, f"{model.name}.keras")
    model.save(path)
    m = pyrnn.load(path)
    return m.predict


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
    import openvino as ov

    path = os.path.join(tmp, "model.onnx")
    with open(path, "wb") as f:
        f.write(proto.SerializeToString())
    core = ov.Core()
    compiled = core.compile_model(ov.convert_model(path), "CPU",
                                  {"INFERENCE_NUM_THREADS": pyrnn.get_num_threads()})
    req = compiled.create_infer_request()
    return lambda x: req.infer([x])[compiled.output(0)]


def run_torch(model) -> Callable:
    """The same network in PyTorch (nn.LSTM / nn.GRU / nn.RNN + nn.Linear), same weights."""
    import torch

    torch.set_num_threads(pyrnn.get_num_threads())
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

    @torch.inference_mode()
    def forward(x):
        t = torch.from_numpy(x)
        for kind, mod, opt in mods:
            if kind == "rnn":
                t, _ = mod(t)
                if not opt:
                    t = t[:, -1]
            else:
                t = mod(t)
                if opt == "softmax":
                    t = torch.softmax(t, dim=-1)
        return t.numpy()

    return forward


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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds, shorter timed blocks")
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--batches", default="1,8,64,1024")
    ap.add_argument("--no-keras-predict", action="store_true", help="skip Keras predict (slow, ~50 ms per call)")
    ap.add_argument("--out", default=RESULTS)
    ap.add_argument("--isa", default=None,
                    help="pyrnn tier (sets PYRNN_ISA; avx2 also restricts PyTorch and numpy to AVX2)")
    args = ap.parse_args(argv)
    tier = pyrnn.config()["isa"]
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
                print(f"{name}: OpenVINO skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
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
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        n = len(series)
        ncol = min(3, n)
        nrow = (n + ncol - 1) // ncol
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.6 * nrow), squeeze=False)
        for ax in axes.flat[n:]:
            ax.axis("off")
        for ax, (name, per) in zip(axes.flat, series.items()):
            for k, pts in per.items():
                bs, ts = zip(*pts)
                ax.plot(bs, [t * 1e3 for t in ts], marker="o", label=k, linewidth=2.5 if k == "pyrnn" else 1.2)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_title(describe(name), fontsize=8)
            ax.set_xlabel("batch")
            ax.set_ylabel("latency (ms)")
            ax.grid(True, which="both", alpha=0.3)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"Latency per call — {machine}", fontsize=9)
        fig.tight_layout()
        fig.savefig(os.path.join(args.out, stem + ".png"), dpi=110)
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
