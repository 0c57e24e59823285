"""Real-time anomaly scores with pyrnn's streaming API.

A weekly sensor-like series (Mauna Loa CO2, shipped with statsmodels) arrives one
sample at a time. A small sequence-to-sequence LSTM trained in Keras predicts the next
week's change; each incoming sample gets an anomaly score |actual - predicted| / sigma.
pyrnn carries the LSTM state between samples (``model.stream()``), so each sample costs
one recurrent step instead of re-running a whole window. A few spikes are injected into
the held-out part to show the score reacting.

    pip install scikit-learn statsmodels   # statsmodels ships the data
    python examples/03_realtime_anomaly_stream.py [--epochs N] [--quick]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def load_series() -> np.ndarray:
    import statsmodels.api as sm

    co2 = sm.datasets.co2.load_pandas().data["co2"].interpolate().to_numpy(np.float64)
    return np.diff(co2)  # weekly change, roughly stationary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 15, or 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args()
    epochs = args.epochs or (2 if args.quick else 15)

    import keras

    import pyrnn

    series = load_series()
    split = int(len(series) * 0.7)
    mean, std = series[:split].mean(), series[:split].std()
    z = ((series - mean) / std).astype(np.float32)

    # Train: sequences of 52 weeks, target = the next week at every step.
    T = 52
    starts = np.arange(0, split - T - 1, 4)
    xs = np.stack([z[s:s + T] for s in starts])[..., None]
    ys = np.stack([z[s + 1:s + T + 1] for s in starts])[..., None]
    keras.utils.set_random_seed(7)
    model = keras.Sequential([keras.Input((None, 1)), keras.layers.LSTM(16, return_sequences=True),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    model.fit(xs, ys, epochs=epochs, batch_size=32, verbose=0)
    path = os.path.join(tempfile.mkdtemp(), "co2_forecaster.keras")
    model.save(path)

    # Held-out stream with three injected spikes (sensor glitches).
    live = z[split:].copy()
    spikes = [150, 300, 450][: 3 if len(live) > 460 else 1]
    for s in spikes:
        live[s] += 6.0

    stream = pyrnn.load(path).stream(batch_size=1)  # no TensorFlow needed from here on
    stream.feed(z[:split][None, :, None])  # warm the state up on the history
    preds, lat = np.empty(len(live) - 1, np.float32), np.empty(len(live) - 1)
    sample = np.empty((1, 1), np.float32)
    for t in range(len(live) - 1):
        sample[0, 0] = live[t]
        t0 = time.perf_counter()
        y = stream.step(sample)  # forecast of live[t + 1]
        lat[t] = time.perf_counter() - t0
        preds[t] = y[0, 0]
    scores = np.abs(live[1:] - preds)  # in standard deviations of the weekly change
    flagged = np.flatnonzero(scores > 4.0) + 1

    # The same forecasts from Keras on the whole sequence (one call), for parity.
    ref = np.asarray(model(np.concatenate([z[:split], live])[None, :, None]))[0, split:-1, 0]
    err = float(np.max(np.abs(preds - ref)) / max(1.0, float(np.max(np.abs(ref)))))

    print(f"CO2 weekly changes: {split} weeks of history, {len(live)} streamed, spikes injected at {spikes}")
    print(f"flagged (score > 4 sigma): {flagged.tolist()}")
    print(f"pyrnn streamed forecasts vs one Keras call on the whole series: max relative difference {err:.1e}")
    print(f"per-sample latency of pyrnn stream.step: median {np.median(lat) * 1e6:.1f} us, "
          f"p99 {np.percentile(lat, 99) * 1e6:.1f} us, max {lat.max() * 1e6:.1f} us")
    t0 = time.perf_counter()
    for _ in range(20):
        model.predict(live[None, -T:, None], verbose=0)
    per_sample_ms = (time.perf_counter() - t0) / 20 * 1e3
    print(f"for comparison, Keras predict on a 52-week window: {per_sample_ms:.1f} ms per sample")
    return 0 if err <= 1e-5 else 1


if __name__ == "__main__":
    raise SystemExit(main())
