"""How far each ``compute_type`` is from Keras float32 (TensorFlow, CPU).

    python bench/accuracy.py [--quick] [--isa TIER] [--out bench/results/accuracy.md]

Three parts, each run in float32 (the Keras-exact default), bfloat16, float16 and int8:

1. The model zoo of the test suite (tests/zoo.py, written by Keras 3 as ``.keras``) and
   the benchmark configurations (bench/compare.py, batch 8): max absolute and max
   relative error (``max|a-b| / max(1, max|b|)``, the parity contract's measure) of every
   output against Keras's own.
2. A digits classifier (examples/01: scikit-learn's 8x8 digits read row by row, LSTM(64)
   and SimpleRNN(64) -> Dense(10, softmax), trained here with the example's seed): test
   accuracy, and how often the predicted class agrees with Keras float32's.
3. The sunspot forecaster shipped with pyrnn (pyrnn/data, LSTM(32) -> Dense(1)): RMSE
   of the held-out forecasts in sunspot units, against the 87 held-out years whose
   target is the next window's last value, and the largest change of a forecast.

Targets from the issue: argmax agreement with Keras float32 >= 99.5 % for bfloat16 and
float16, >= 99 % for int8; float16 max abs error <= 2e-3 on the zoo. Writes the tables
to bench/results/accuracy.md (the README's table comes from it).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import tempfile
import time
import warnings
from typing import Any, Dict, List, Tuple

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

from _machine import apply_isa, cpu_name  # noqa: E402  (bench/, the script's own folder)

apply_isa(sys.argv[1:])  # before pyrnn loads

import numpy as np  # noqa: E402

import pyrnn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RESULTS = os.path.join(HERE, "results")
TYPES = pyrnn.COMPUTE_TYPES
TARGET_AGREE = {"float32": 1.0, "bfloat16": 0.995, "float16": 0.995, "int8": 0.99}
TARGET_FP16_ABS = 2e-3
DATA = os.path.join(os.path.dirname(os.path.abspath(pyrnn.__file__)), "data")


def _module(name: str, path: str) -> Any:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _as_list(y: Any) -> List[np.ndarray]:
    return [np.asarray(a, np.float64) for a in (y if isinstance(y, (list, tuple)) else [y])]


def errors(got: Any, ref: Any) -> Tuple[float, float]:
    """(max abs, max relative) over all outputs; relative = max|a-b| / max(1, max|b|) per output."""
    abs_err = rel = 0.0
    for a, b in zip(_as_list(got), _as_list(ref)):
        d = float(np.max(np.abs(a - b))) if a.size else 0.0
        abs_err = max(abs_err, d)
        rel = max(rel, d / max(1.0, float(np.max(np.abs(b))) if b.size else 1.0))
    return abs_err, rel


# -- part 1: the zoo and the benchmark configurations ------------------------------------------


def zoo_errors(tmp: str, quick: bool) -> List[Tuple[str, Dict[str, Tuple[float, float]]]]:
    import keras

    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import zoo  # tests/zoo.py

    compare = _module("compare", os.path.join(HERE, "compare.py"))
    rows = []
    entries = list(zoo.ZOO.values())[: 6 if quick else None]
    for e in entries:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = zoo.build(e, keras)
            x = zoo.make_input(e)
            ref = model(x, training=False)
            path = os.path.join(tmp, f"{e.name}.keras")
            model.save(path)
        rows.append((f"zoo: {e.name}", {t: errors(pyrnn.load(path, compute_type=t).predict(x), ref) for t in TYPES}))
    configs = list(compare.CONFIGS)[: 2 if quick else None]
    for name in configs:
        model = compare.build_keras(name)
        _, T, F, _, _ = compare.CONFIGS[name]
        x = np.random.default_rng(1).normal(size=(8, T, F)).astype(np.float32)
        ref = model(x, training=False)
        path = os.path.join(tmp, f"{name}.keras")
        model.save(path)
        rows.append((f"bench: {name} (batch 8)",
                     {t: errors(pyrnn.load(path, compute_type=t).predict(x), ref) for t in TYPES}))
        print(f"  {rows[-1][0]}: " + ", ".join(f"{t} {rows[-1][1][t][0]:.2e}" for t in TYPES), flush=True)
    return rows


# -- part 2: the digits classifier ---------------------------------------------------------------


def digits(tmp: str, epochs: int) -> List[Dict[str, Any]]:
    import keras
    import tensorflow as tf

    example = _module("digits_example", os.path.join(ROOT, "examples", "01_digits_sequence_classification.py"))
    keras.utils.set_random_seed(example.SEED)
    tf.config.experimental.enable_op_determinism()
    x_train, x_test, y_train, y_test = example.load_digit_sequences(example.SEED)
    out = []
    for kind in ("LSTM", "SimpleRNN"):
        model = example.build_model(kind)
        model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
        path = os.path.join(tmp, f"digits_{kind}.keras")
        model.save(path)
        ref = np.asarray(model(x_test, training=False))
        row: Dict[str, Any] = {"model": f"{kind}(64) -> Dense(10, softmax)", "n": len(x_test),
                               "keras_acc": float(np.mean(ref.argmax(1) == y_test))}
        for t in TYPES:
            p = np.asarray(pyrnn.load(path, compute_type=t).predict(x_test))
            row[t] = {"acc": float(np.mean(p.argmax(1) == y_test)),
                      "agree": float(np.mean(p.argmax(1) == ref.argmax(1))), "abs": errors(p, ref)[0]}
        out.append(row)
        print(f"  digits {kind}: " + ", ".join(f"{t} agree {row[t]['agree']:.2%}" for t in TYPES), flush=True)
    return out


# -- part 3: the sunspot forecaster ---------------------------------------------------------------


def sunspots() -> Dict[str, Any]:
    import json

    with open(os.path.join(DATA, "demo_info.json")) as fh:
        std = float(json.load(fh)["normalisation"]["std"])
    x = np.load(os.path.join(DATA, "demo_inputs.npy"))
    keras_out = np.load(os.path.join(DATA, "demo_keras_outputs.npy"))
    target = x[1:, -1, 0]  # the next window's last value: the target of every window but the last
    keras_rmse = float(np.sqrt(np.mean((keras_out[:-1, 0] - target) ** 2))) * std
    row: Dict[str, Any] = {"n": len(target), "keras_rmse": keras_rmse}
    for t in TYPES:
        y = np.asarray(pyrnn.load(os.path.join(DATA, "demo_sunspots.keras"), compute_type=t).predict(x))
        row[t] = {"rmse": float(np.sqrt(np.mean((y[:-1, 0] - target) ** 2))) * std,
                  "max_change": float(np.max(np.abs(y - keras_out))) * std,
                  "abs": errors(y, keras_out)[0]}
    return row


# -- report -----------------------------------------------------------------------------------------


def report(zoo_rows: List[Any], digit_rows: List[Dict[str, Any]], sun: Dict[str, Any], epochs: int,
           seconds: float) -> str:
    cfg = pyrnn.config()
    lines = [
        "# Reduced precision: accuracy against Keras float32",
        "",
        f"`python bench/accuracy.py` on {cpu_name()}, pyrnn {pyrnn.__version__}, ISA tier **{cfg['isa']}** "
        f"({cfg['threads']} threads), in {seconds:.0f} s. How this tier runs each compute type:",
        "",
    ]
    lines += [f"- `{t}`: {d}" for t, d in cfg["compute_types"].items()]
    lines += [
        "",
        "Only the recurrent layers use the compute type; Dense, Conv1D, Embedding and the other layers are float32.",
        "",
        "## Model outputs against Keras float32 (TensorFlow CPU)",
        "",
        "Max absolute error / max relative error (`max|a-b| / max(1, max|b|)`) over every output. The zoo is the "
        "test suite's (tests/zoo.py, Keras 3 `.keras`, small layers with moderate seeded weights); `bench:` rows are "
        "bench/compare.py's configurations at batch 8.",
        "",
        "| model | " + " | ".join(TYPES) + " |",
        "|---|" + "---|" * len(TYPES),
    ]
    worst = {t: [0.0, 0.0] for t in TYPES}
    for name, errs in zoo_rows:
        lines.append(f"| {name} | " + " | ".join(f"{errs[t][0]:.1e} / {errs[t][1]:.1e}" for t in TYPES) + " |")
        for t in TYPES:
            worst[t] = [max(worst[t][0], errs[t][0]), max(worst[t][1], errs[t][1])]
    lines.append("| **worst** | " + " | ".join(f"**{worst[t][0]:.1e} / {worst[t][1]:.1e}**" for t in TYPES) + " |")
    fp16_ok = worst["float16"][0] <= TARGET_FP16_ABS
    lines += ["", f"Target: float16 max abs error <= {TARGET_FP16_ABS:g} on the zoo: "
                  f"{'met' if fp16_ok else 'NOT met'} ({worst['float16'][0]:.1e}).", ""]
    lines += [
        "## Digits classifier: accuracy and agreement with Keras float32",
        "",
        f"examples/01's models trained here for {epochs} epochs (seed {7}); {digit_rows[0]['n'] if digit_rows else 0} "
        "test sequences. Agreement: share of test sequences whose predicted class equals Keras float32's; targets "
        ">= 99.5 % (bfloat16, float16), >= 99 % (int8).",
        "",
        "| model | Keras accuracy | " + " | ".join(f"{t}: accuracy / agreement / max abs" for t in TYPES) + " |",
        "|---|---|" + "---|" * len(TYPES),
    ]
    met = True
    for r in digit_rows:
        cells = []
        for t in TYPES:
            ok = r[t]["agree"] >= TARGET_AGREE[t]
            met &= ok
            cells.append(f"{r[t]['acc']:.2%} / {r[t]['agree']:.2%}{'' if ok else ' (below target)'} / "
                         f"{r[t]['abs']:.1e}")
        lines.append(f"| {r['model']} | {r['keras_acc']:.2%} | " + " | ".join(cells) + " |")
    lines += ["", f"Agreement targets: {'met' if met else 'NOT met'}.", ""]
    lines += [
        "## Sunspot forecaster (pyrnn/data)",
        "",
        f"`LSTM(32) -> Dense(1)`, held-out years 1921-2007 ({sun['n']} forecasts); RMSE in sunspot numbers "
        f"(Keras float32: {sun['keras_rmse']:.3f}), and the largest change of one forecast from Keras's, in "
        "sunspot numbers (the model's output is normalised; std 34.19).",
        "",
        "| | " + " | ".join(TYPES) + " |",
        "|---|" + "---|" * len(TYPES),
        "| RMSE | " + " | ".join(f"{sun[t]['rmse']:.3f}" for t in TYPES) + " |",
        "| RMSE change | " + " | ".join(f"{sun[t]['rmse'] - sun['keras_rmse']:+.4f}" for t in TYPES) + " |",
        "| largest forecast change | " + " | ".join(f"{sun[t]['max_change']:.4f}" for t in TYPES) + " |",
        "| max abs error (normalised output) | " + " | ".join(f"{sun[t]['abs']:.1e}" for t in TYPES) + " |",
        "",
    ]
    return "\n".join(lines)


def main(argv: Any = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a few zoo models, 5 epochs (a smoke test)")
    ap.add_argument("--epochs", type=int, default=None, help="digits training epochs (default 25, 5 with --quick)")
    ap.add_argument("--out", default=os.path.join(RESULTS, "accuracy.md"))
    ap.add_argument("--isa", default=None, help="pyrnn tier (sets PYRNN_ISA)")
    args = ap.parse_args(argv)
    epochs = args.epochs if args.epochs is not None else (5 if args.quick else 25)
    print(f"{cpu_name()}: pyrnn tier {pyrnn.config()['isa']}", flush=True)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        print("model outputs ...", flush=True)
        zoo_rows = zoo_errors(tmp, args.quick)
        print("digits classifier ...", flush=True)
        digit_rows = digits(tmp, epochs)
    sun = sunspots()
    text = report(zoo_rows, digit_rows, sun, epochs, time.perf_counter() - t0)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as fh:
        fh.write(text)
    print(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
