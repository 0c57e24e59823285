"""The ``pyrnn`` command line: info, predict, bench and demo.

    pyrnn info MODEL [--compute-type TYPE]
    pyrnn predict MODEL INPUT.npy|INPUT.npz -o OUTPUT.npy|OUTPUT.npz [--batch-size N] [--compute-type TYPE]
    pyrnn bench MODEL [--batch-sizes 1,32,1024] [--timesteps T] [--keras] [--per-layer] [--json] [--compute-type TYPE]
    pyrnn demo
    pyrnn selftest

``--compute-type`` is the recurrent layers' arithmetic (float32, the default; bfloat16,
float16 or int8; see ``pyrnn.load``). Errors print one line on stderr and exit with
status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from .profile import format_seconds

_DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")


def _fail(msg: str) -> int:
    first = str(msg).strip().splitlines()
    sys.stderr.write("pyrnn: error: " + (first[0] if first else "unknown error") + "\n")
    for extra in first[1:]:
        sys.stderr.write("  " + extra.strip() + "\n")
    return 1


def _samples(fn: Callable[[], Any], budget_s: float = 0.4, min_reps: int = 5, max_reps: int = 2000) -> List[float]:
    """Wall times of repeated fn() calls in seconds, after a warm-up call."""
    fn()
    times: List[float] = []
    start = time.perf_counter()
    while len(times) < min_reps or (time.perf_counter() - start < budget_s and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _time(fn: Callable[[], Any], budget_s: float = 0.4, min_reps: int = 5, max_reps: int = 2000) -> float:
    """Median wall time of fn() in seconds, after a warm-up call."""
    return statistics.median(_samples(fn, budget_s, min_reps, max_reps))


def _latency_stats(times: Sequence[float], batch: int) -> Dict[str, float]:
    """min/p50/p90/p99/mean latency in ms and throughput (sequences/s at the median)."""
    ms = np.asarray(times, dtype=np.float64) * 1e3
    p50, p90, p99 = (float(v) for v in np.percentile(ms, [50, 90, 99]))
    return {"min_ms": float(ms.min()), "p50_ms": p50, "p90_ms": p90, "p99_ms": p99, "mean_ms": float(ms.mean()),
            "samples": int(ms.size), "sequences_per_s": batch / (p50 / 1e3)}


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows)]
    line = lambda cells: "| " + " | ".join(str(c).rjust(w) for c, w in zip(cells, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), sep] + [line(r) for r in rows])


def _sample_inputs(model: Any, batch: int, timesteps: int, rng: np.random.Generator) -> List[np.ndarray]:
    xs = []
    for i, shape in enumerate(model._in_shapes):
        dims = [batch] + [timesteps if d is None else d for d in shape[1:]]
        vocab = model._id_ranges.get(i)
        if vocab:
            xs.append(rng.integers(1, max(vocab, 2), size=dims).astype(np.float32))
        else:
            xs.append(rng.standard_normal(dims).astype(np.float32))
    return xs


def _keras_loader(path: str, keras_version: str) -> Optional[Callable[[List[np.ndarray]], Any]]:
    """A callable running the model in Keras, or None when TensorFlow is absent."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # TensorFlow's start-up log lines are noise here
    try:
        import tensorflow as tf
    except ImportError:
        return None
    tf.get_logger().setLevel("ERROR")
    if keras_version.startswith("2"):
        import tf_keras as keras
    else:
        import keras
    m = keras.models.load_model(path, compile=False)
    fn = tf.function(lambda *a: m(list(a) if len(a) > 1 else a[0], training=False))
    return lambda xs: fn(*xs)


def cmd_info(args: argparse.Namespace) -> int:
    import pyrnn

    model = pyrnn.load(args.model, compute_type=args.compute_type)
    model.summary()
    return 0


def _read_inputs(path: str) -> List[np.ndarray]:
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such input file: {path!r}")
    data = np.load(path, allow_pickle=False)
    if isinstance(data, np.ndarray):
        return [data]
    with data:
        keys = list(data.keys())
        if all(k.startswith("arr_") and k[4:].isdigit() for k in keys):
            keys.sort(key=lambda k: int(k[4:]))
        return [data[k] for k in keys]


def cmd_predict(args: argparse.Namespace) -> int:
    import pyrnn

    out = args.output
    ext = os.path.splitext(out)[1].lower()
    if ext not in (".npy", ".npz"):
        raise ValueError(f"-o {out}: pyrnn predict writes .npy (one output) or .npz (one array per output) "
                         f"files, not {ext or 'files without an extension'}; name the output e.g. "
                         f"{os.path.splitext(out)[0] or 'outputs'}.npy")
    model = pyrnn.load(args.model, compute_type=args.compute_type)
    xs = _read_inputs(args.input)
    if len(xs) != len(model.input_names):
        raise ValueError(f"{os.path.basename(args.input)} holds {len(xs)} arrays; the model takes "
                         f"{len(model.input_names)} ({', '.join(model.input_names)})")
    ys = model.predict(xs if len(xs) > 1 else xs[0], batch_size=args.batch_size)
    arrays = ys if isinstance(ys, list) else [ys]
    if len(arrays) > 1 and ext != ".npz":
        raise ValueError(f"the model has {len(arrays)} outputs; write them to an .npz file, not {out!r}")
    with open(out, "wb") as fh:  # a file object: np.save/np.savez given a name may append an extension
        if ext == ".npy":
            np.save(fh, arrays[0])
        else:
            np.savez(fh, *arrays)
    print(f"wrote {out}: " + ", ".join(str(y.shape) for y in arrays))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    import pyrnn

    model = pyrnn.load(args.model, compute_type=args.compute_type)
    try:
        sizes = [int(s) for s in args.batch_sizes.split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"--batch-sizes must be comma-separated integers, got {args.batch_sizes!r}") from None
    if not sizes or min(sizes) < 1:
        raise ValueError("--batch-sizes needs positive integers")
    if args.repeats < 1:
        raise ValueError(f"--repeats must be at least 1, got {args.repeats}")
    keras_fn = None
    note = ""
    if args.keras:
        try:
            keras_fn = _keras_loader(args.model, model.keras_version)
            if keras_fn is None:
                note = "TensorFlow is not installed: timing pyrnn only."
        except Exception as exc:  # Keras cannot load every file pyrnn can
            note = f"Keras could not load the file ({type(exc).__name__}: {str(exc).splitlines()[0][:120]})"
    rng = np.random.default_rng(0)
    header = ["batch", "min", "p50", "p90", "p99", "seq/s (p50)"]
    header += ["Keras tf.function (p50)", "speed-up"] if keras_fn else []
    rows = []
    results: List[Dict[str, Any]] = []
    profiles = []
    for b in sizes:
        xs = _sample_inputs(model, b, args.timesteps, rng)
        arg = xs if len(xs) > 1 else xs[0]
        st = _latency_stats(_samples(functools.partial(model.predict, arg)), b)
        entry: Dict[str, Any] = {"batch": b, **st}
        row = [str(b)] + [format_seconds(st[k] / 1e3) for k in ("min_ms", "p50_ms", "p90_ms", "p99_ms")]
        row.append(f"{st['sequences_per_s']:,.0f}")
        if keras_fn:
            tk = _latency_stats(_samples(functools.partial(keras_fn, xs)), b)
            entry["keras"] = tk
            row += [format_seconds(tk["p50_ms"] / 1e3), f"{tk['p50_ms'] / st['p50_ms']:.1f}x"]
        if args.per_layer:
            prof = model.profile(arg, repeats=args.repeats, warmup=1)
            profiles.append(prof)
            entry["per_layer"] = prof.to_dict()["rows"]
        rows.append(row)
        results.append(entry)
    if args.json:
        info = {"model": model.name, "file": args.model, "pyrnn": pyrnn.__version__,
                "threads": pyrnn.get_num_threads(), "isa": pyrnn.config()["isa"],
                "compute_type": model.compute_type, "results": results}
        if note:
            info["note"] = note
        print(json.dumps(info, indent=2))
        return 0
    print(f"{model!r}\nthreads: {pyrnn.get_num_threads()}, ISA: {pyrnn.config()['isa']}, "
          f"compute type: {model.compute_type}")
    print(_table(header, rows))
    for prof in profiles:
        print()
        print(prof)
    if note:
        print(note)
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    import pyrnn

    path = os.path.join(_DATA, "demo_sunspots.keras")
    inputs = os.path.join(_DATA, "demo_inputs.npy")
    expected = os.path.join(_DATA, "demo_keras_outputs.npy")
    for p in (path, inputs, expected):
        if not os.path.exists(p):
            raise FileNotFoundError(f"the demo data is missing from this installation: {p}")
    info = {}
    if os.path.exists(os.path.join(_DATA, "demo_info.json")):
        with open(os.path.join(_DATA, "demo_info.json")) as fh:
            info = json.load(fh)
    t0 = time.perf_counter()
    model = pyrnn.load(path)
    t_load = time.perf_counter() - t0
    x = np.load(inputs)
    ref = np.load(expected)
    y = np.asarray(model.predict(x))  # the demo model has one output
    err = float(np.max(np.abs(y - ref)) / max(1.0, float(np.max(np.abs(ref)))))
    print(f"pyrnn {pyrnn.__version__} demo: {info.get('model', 'a small LSTM forecaster')}")
    if info.get("dataset"):
        print(f"trained in Keras {info.get('keras_version', '?')} on {info['dataset']}")
    print(f"model: {model!r}")
    print(f"loaded in {format_seconds(t_load)} without TensorFlow "
          f"(tensorflow imported: {'tensorflow' in sys.modules})")
    print(f"max relative difference from the Keras predictions saved with the model: {err:.2e} "
          f"({'OK' if err <= 1e-5 else 'MISMATCH'})")
    norm = info.get("normalisation") or {}
    if "std" in norm and "mean" in norm:
        to_units = lambda v: float(v) * float(norm["std"]) + float(norm["mean"])  # noqa: E731
        year = str(info.get("held_out_targets", "")).split(" ")[0].rsplit("-", 1)[-1]
        label = f"the forecast for {year}" if year.isdigit() else "the forecast for the last held-out year"
        print(f"{label} (from the 24 years before it): pyrnn {to_units(y[-1, 0]):.4f}, "
              f"Keras {to_units(ref[-1, 0]):.4f} ({info.get('mae_units', 'original units')})")
    rows = []
    for b in (1, 32, len(x)):
        xb = x[:b]
        t = _time(functools.partial(model.predict, xb), budget_s=0.3)
        rows.append([str(b), format_seconds(t), format_seconds(t / b), f"{b / t:,.0f}"])
    print(_table(["batch", "latency", "per sequence", "sequences/s"], rows))
    print(f"threads: {pyrnn.get_num_threads()}, ISA: {pyrnn.config()['isa']}")
    return 0 if err <= 1e-5 else 1


def cmd_selftest(args: argparse.Namespace) -> int:
    from ._selftest import run

    return run()


def _compute_type_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--compute-type", default="float32", metavar="TYPE",
                        help="arithmetic of the recurrent layers: float32 (default, Keras-exact), bfloat16, float16 "
                             "or int8 (other layers stay float32)")


def build_parser() -> argparse.ArgumentParser:
    import pyrnn

    p = argparse.ArgumentParser(prog="pyrnn", description="Run Keras recurrent models without TensorFlow.")
    p.add_argument("--version", action="version", version=f"pyrnn {pyrnn.__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    s = sub.add_parser("info", help="print a model's layers, shapes and parameter counts")
    s.add_argument("model", help=".keras or .h5 model file")
    _compute_type_option(s)
    s.set_defaults(fn=cmd_info)
    s = sub.add_parser("predict", help="run a model on inputs from an .npy/.npz file")
    s.add_argument("model")
    s.add_argument("input", help=".npy (one input) or .npz (one array per input, in order)")
    s.add_argument("-o", "--output", required=True, help=".npy (one output) or .npz")
    s.add_argument("--batch-size", type=int, default=None)
    _compute_type_option(s)
    s.set_defaults(fn=cmd_predict)
    s = sub.add_parser("bench", help="latency and throughput table (with --keras: against Keras too)")
    s.add_argument("model")
    s.add_argument("--batch-sizes", default="1,32,1024")
    s.add_argument("--timesteps", type=int, default=32, help="length used where the model's time axis is free")
    s.add_argument("--keras", action="store_true",
                   help="also time the model in Keras (needs TensorFlow; its start-up takes tens of seconds)")
    s.add_argument("--per-layer", action="store_true", help="also time each layer (model.profile) per batch size")
    s.add_argument("--repeats", type=int, default=20, help="timed runs per batch size for --per-layer (default 20)")
    s.add_argument("--json", action="store_true",
                   help="print one JSON object (latency min/p50/p90/p99/mean in ms, sequences/s; with "
                        "--per-layer the layer rows) instead of tables")
    s.add_argument("--no-tensorflow", action="store_true", help=argparse.SUPPRESS)  # the default since 0.1
    _compute_type_option(s)
    s.set_defaults(fn=cmd_bench)
    s = sub.add_parser("demo", help="load the bundled model, check it against Keras and time it")
    s.set_defaults(fn=cmd_demo)
    s = sub.add_parser("selftest", help="check the layers against a float64 reference on every ISA tier")
    s.set_defaults(fn=cmd_selftest)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "fn", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.fn(args) or 0)
    except KeyboardInterrupt:
        return 130
    except (FileNotFoundError, ValueError, TypeError, OSError, MemoryError) as exc:
        return _fail(str(exc))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
