"""Time-series forecasting with pyrnn: next year's sunspot number.

The yearly sunspot numbers 1700-2008 ship with statsmodels. Each sample is a
window of 24 consecutive (normalised) years; the target is the following year.
Windows whose target year is <= 1920 train the models, the later 88 are held out.
Two Keras models are trained:

    (a) stacked:  SimpleRNN(32, return_sequences=True) -> Dropout(0.2) -> SimpleRNN(32) -> Dense(1)
    (b) lstm:     LSTM(32) -> Dense(1)

Each is saved in both Keras formats, ``.keras`` (Keras 3) and legacy ``.h5``,
and each file is loaded with ``pyrnn.load``. The script checks that pyrnn gives
Keras's forecasts (and so the same error in sunspot units), then times the
typical deployment pattern: forecasting one window at a time (batch 1), as a
walk-forward loop over the held-out years does.

TensorFlow/Keras are used only to train the models and to produce the reference
forecasts; the pyrnn side needs nothing but numpy.

    pip install statsmodels
    python examples/02_sunspots_forecasting.py            # ~1 minute
    python examples/02_sunspots_forecasting.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter quiet

import numpy as np

import pyrnn

SEED = 11
WINDOW = 24  # years of history per sample
SPLIT_YEAR = 1920  # last target year used for training


# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------
def load_sunspot_windows():
    """Normalised (N, 24, 1) windows and (N, 1) next-year targets, split by target year."""
    import statsmodels.api as sm

    frame = sm.datasets.sunspots.load_pandas().data
    years = frame["YEAR"].to_numpy(dtype=np.int64)
    spots = frame["SUNACTIVITY"].to_numpy(dtype=np.float64)

    n_train = int(np.sum(years[WINDOW:] <= SPLIT_YEAR))  # windows with a target year <= SPLIT_YEAR
    seen = spots[: n_train + WINDOW]  # every value the training windows touch
    mean, std = seen.mean(), seen.std()  # normalise with training statistics only
    z = (spots - mean) / std

    x = np.stack([z[i : i + WINDOW] for i in range(len(z) - WINDOW)])[..., None].astype(np.float32)
    y = z[WINDOW:, None].astype(np.float32)
    return (x[:n_train], y[:n_train]), (x[n_train:], y[n_train:]), (mean, std), years[WINDOW + n_train]


# ---------------------------------------------------------------------------------------------------
# Models (Keras, training only)
# ---------------------------------------------------------------------------------------------------
def build_model(kind: str):
    import keras

    if kind == "stacked":
        layers = [
            keras.layers.SimpleRNN(32, return_sequences=True),
            keras.layers.Dropout(0.2),  # active only in training; inference ignores it
            keras.layers.SimpleRNN(32),
        ]
    else:
        layers = [keras.layers.LSTM(32)]
    model = keras.Sequential([keras.Input((WINDOW, 1)), *layers, keras.layers.Dense(1)], name=f"sunspots_{kind}")
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    return model


# ---------------------------------------------------------------------------------------------------
# Timing helpers
# ---------------------------------------------------------------------------------------------------
def median_seconds(fn, repeats: int, warmup: int = 3) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def walk_forward_seconds(forecast_one, windows: np.ndarray) -> float:
    """Wall time to forecast every window one at a time (batch 1), as a live forecasting loop does."""
    forecast_one(windows[:1])  # warm up
    start = time.perf_counter()
    for i in range(len(windows)):
        forecast_one(windows[i : i + 1])
    return time.perf_counter() - start


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:7.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:7.2f} ms"
    return f"{seconds:7.2f} s "


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x"


# ---------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description="Sunspot forecasting: Keras-trained SimpleRNN/LSTM run by pyrnn")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 60, or 5 with --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats (default 100, or 10 with --quick)")
    parser.add_argument("--quick", action="store_true", help="few epochs and repeats (a smoke test)")
    args = parser.parse_args()
    epochs = args.epochs if args.epochs is not None else (5 if args.quick else 60)
    repeats = args.repeats if args.repeats is not None else (10 if args.quick else 100)
    loop_years = 20 if args.quick else None  # walk-forward loop length (None: all held-out years)

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)  # seeds Python, NumPy and the backend: reproducible training
    tf.config.experimental.enable_op_determinism()  # same weights on every run (on the same machine)
    (x_train, y_train), (x_test, y_test), (mean, std), first_test_year = load_sunspot_windows()
    print(f"sunspots: {len(x_train)} training windows, {len(x_test)} held-out windows "
          f"(forecasting {first_test_year}-{first_test_year + len(x_test) - 1}); window {WINDOW} years; "
          f"{epochs} epochs; per-call timings are medians of {repeats} calls")
    print(f"Keras {keras.__version__} (TensorFlow {tf.__version__}, CPU); pyrnn {pyrnn.__version__}")

    def mae_sunspots(pred) -> float:
        """Mean absolute error in sunspot-number units (undo the normalisation)."""
        return float(np.mean(np.abs(np.asarray(pred, dtype=np.float64) - y_test)) * std)

    print(f"persistence baseline (next year = this year): MAE {mae_sunspots(x_test[:, -1]):.3f}")
    x_loop = x_test[:loop_years]  # the windows the walk-forward timing loop forecasts

    accuracy_rows, timing_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("stacked", "lstm"):
            # --- 1. train in Keras and save in both formats ------------------------------------
            model = build_model(kind)
            start = time.perf_counter()
            model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
            train_s = time.perf_counter() - start
            keras_pred = model.predict(x_test, batch_size=len(x_test), verbose=0)

            paths = {fmt: Path(tmp) / f"sunspots_{kind}.{fmt}" for fmt in ("keras", "h5")}
            model.save(paths["keras"])
            absl_logger = logging.getLogger("absl")  # Keras logs that .h5 is a legacy format; that is the point here
            level = absl_logger.level
            absl_logger.setLevel(logging.ERROR)
            model.save(paths["h5"])
            absl_logger.setLevel(level)

            # --- 2. load each file with pyrnn and forecast the held-out years -----------------
            nets = {}
            for fmt, path in paths.items():
                nets[fmt] = net = pyrnn.load(path)
                pyrnn_pred = np.asarray(net.predict(x_test))
                diff = np.abs(pyrnn_pred.astype(np.float64) - keras_pred)
                accuracy_rows.append((kind, fmt, train_s, mae_sunspots(keras_pred), mae_sunspots(pyrnn_pred),
                                      float(diff.max()), float(diff.max() / max(1.0, np.abs(keras_pred).max()))))

            # --- 3. time single-window forecasts (batch 1) -------------------------------------
            one = x_test[:1]
            forecasters = {
                "Keras predict": lambda w, model=model: model.predict(w, verbose=0),
                "Keras model(x)": lambda w, m=model: m(w, training=False).numpy(),  # eager call, no predict loop
                "pyrnn predict": nets["keras"].predict,  # the model pyrnn loaded from the .keras file
            }
            per_call = {name: median_seconds(lambda f=f, one=one: f(one), repeats) for name, f in forecasters.items()}
            loop = {name: walk_forward_seconds(f, x_loop) for name, f in forecasters.items()}
            timing_rows.append((kind, per_call, loop))

    # --- report --------------------------------------------------------------------------------
    print("\nHeld-out forecasts: MAE in sunspot units, and pyrnn vs Keras (normalised outputs)")
    print(f"  {'model':<8} {'file':<6} {'train':>6} {'Keras MAE':>12} {'pyrnn MAE':>12} "
          f"{'max |a-b|':>10} {'relative':>10}")
    for kind, fmt, train_s, keras_mae, pyrnn_mae, max_abs, rel in accuracy_rows:
        print(f"  {kind:<8} .{fmt:<5} {train_s:5.1f}s {keras_mae:12.6f} {pyrnn_mae:12.6f} {max_abs:10.2e} {rel:10.2e}")

    print(f"\nForecasting one window at a time (batch 1): median per call, and a walk-forward loop over "
          f"{len(x_loop)} held-out years")
    names = list(timing_rows[0][1])
    print(f"  {'model':<8} {'':<9}" + "".join(f" {name:>15}" for name in names) + f" {'pyrnn speed-up':>22}")
    for kind, per_call, loop in timing_rows:
        for label, t in (("per call", per_call), (f"{len(x_loop)} years", loop)):
            speedup = f"{fmt_ratio(t[names[0]] / t[names[2]])} / {fmt_ratio(t[names[1]] / t[names[2]])}"
            print(f"  {kind:<8} {label:<9}" + "".join(f" {fmt_time(t[n]):>15}" for n in names) + f" {speedup:>22}")
    print("  (speed-up: vs Keras predict / vs Keras model(x))")


if __name__ == "__main__":
    main()
