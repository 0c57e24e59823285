"""Build the demo model and data files shipped in ``pyrnn/data/`` (used by ``pyrnn demo``).

The model is a small yearly-sunspot forecaster: it reads the last 24 years of the
(normalised) yearly sunspot number and predicts the next year's value::

    Input((24, 1)) -> LSTM(32) -> Dense(1)

Data: the yearly sunspots series (1700-2008) that ships inside statsmodels
(``statsmodels.datasets.sunspots``), so nothing is downloaded.

Products (all in ``pyrnn/data/``):

* ``demo_sunspots.keras``       the trained Keras 3 model
* ``demo_inputs.npy``           float32 (N, 24, 1): the held-out windows (normalised)
* ``demo_keras_outputs.npy``    float32 (N, 1): Keras's predictions for those windows (TensorFlow CPU)
* ``demo_info.json``            how it was made: normalisation, epochs, versions, test MAE

Run it from anywhere (it needs TensorFlow, Keras 3 and statsmodels)::

    pip install statsmodels
    python examples/make_demo_model.py            # a few seconds on 2 cores
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter quiet

import numpy as np

WINDOW = 24  # years of history the model sees
SPLIT_YEAR = 1920  # windows whose target year is <= SPLIT_YEAR train the model; later ones are held out
SEED = 1234
DEFAULT_EPOCHS = 60
DATA_DIR = Path(__file__).resolve().parent.parent / "pyrnn" / "data"


def load_sunspots():
    """Years and yearly sunspot numbers (1700-2008) bundled with statsmodels."""
    import statsmodels.api as sm

    frame = sm.datasets.sunspots.load_pandas().data
    return frame["YEAR"].to_numpy(dtype=np.int64), frame["SUNACTIVITY"].to_numpy(dtype=np.float64)


def make_windows(series: np.ndarray, window: int):
    """All (window, next value) pairs: x[i] = series[i:i+window], y[i] = series[i+window]."""
    x = np.stack([series[i : i + window] for i in range(len(series) - window)])
    y = series[window:]
    return x[..., None].astype(np.float32), y[:, None].astype(np.float32)  # (N, window, 1), (N, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS, help="training epochs (default %(default)s)")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="output directory (default: pyrnn/data)")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)  # seeds Python, NumPy and the backend
    tf.config.experimental.enable_op_determinism()

    # --- data: normalise with the training part's statistics, cut into windows --------------------
    years, spots = load_sunspots()
    target_years = years[WINDOW:]
    n_train = int(np.sum(target_years <= SPLIT_YEAR))
    train_values = spots[: n_train + WINDOW]  # every value a training window or target touches
    mean, std = float(train_values.mean()), float(train_values.std())
    x, y = make_windows((spots - mean) / std, WINDOW)
    x_train, y_train = x[:n_train], y[:n_train]
    x_test, y_test = x[n_train:], y[n_train:]
    print(f"sunspots: {len(spots)} years {years[0]}-{years[-1]}; "
          f"{len(x_train)} training windows, {len(x_test)} held-out windows "
          f"(targets {target_years[n_train]}-{years[-1]})")

    # --- model -----------------------------------------------------------------------------------
    model = keras.Sequential(
        [keras.Input((WINDOW, 1)), keras.layers.LSTM(32), keras.layers.Dense(1)],
        name="demo_sunspots",
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    start = time.perf_counter()
    model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, shuffle=True, verbose=0)
    print(f"trained {args.epochs} epochs in {time.perf_counter() - start:.1f} s")

    # --- Keras's own predictions of the held-out windows: the reference pyrnn must match ---------
    keras_out = model.predict(x_test, batch_size=len(x_test), verbose=0).astype(np.float32)
    mae = float(np.mean(np.abs(keras_out - y_test)) * std)  # back to sunspot-number units
    naive_mae = float(np.mean(np.abs(x_test[:, -1] - y_test)) * std)  # "next year = this year"
    print(f"held-out MAE (sunspot number): model {mae:.2f}, persistence baseline {naive_mae:.2f}")

    # --- save --------------------------------------------------------------------------------------
    args.out.mkdir(parents=True, exist_ok=True)
    model_path = args.out / "demo_sunspots.keras"
    model.save(model_path)
    np.save(args.out / "demo_inputs.npy", x_test)
    np.save(args.out / "demo_keras_outputs.npy", keras_out)

    # The saved file must give the same predictions (it holds the same float32 weights).
    reloaded = keras.saving.load_model(model_path)
    assert np.array_equal(reloaded.predict(x_test, batch_size=len(x_test), verbose=0), keras_out)

    info = {
        "dataset": "yearly sunspot numbers 1700-2008 (statsmodels.datasets.sunspots, column SUNACTIVITY)",
        "source_package": f"statsmodels {__import__('statsmodels').__version__}",
        "model": "Input((24, 1)) -> LSTM(32) -> Dense(1), predicts the next year's normalised value",
        "window": WINDOW,
        "normalisation": {"mean": mean, "std": std, "note": "x_norm = (x - mean) / std, from the training years"},
        "train_targets": f"{int(target_years[0])}-{SPLIT_YEAR} ({len(x_train)} windows)",
        "held_out_targets": f"{int(target_years[n_train])}-{int(years[-1])} ({len(x_test)} windows)",
        "demo_inputs_shape": list(x_test.shape),
        "epochs": args.epochs,
        "batch_size": 32,
        "optimizer": "Adam(learning_rate=3e-3), loss mse",
        "seed": SEED,
        "keras_version": keras.__version__,
        "tensorflow_version": tf.__version__,
        "keras_outputs_device": "CPU",
        "date": datetime.date.today().isoformat(),
        "test_mae_keras": round(mae, 4),
        "test_mae_persistence_baseline": round(naive_mae, 4),
        "mae_units": "sunspot number (original units)",
        "regenerate": "python examples/make_demo_model.py",
    }
    (args.out / "demo_info.json").write_text(json.dumps(info, indent=2) + "\n")

    for name in ("demo_sunspots.keras", "demo_inputs.npy", "demo_keras_outputs.npy", "demo_info.json"):
        print(f"wrote {args.out / name} ({(args.out / name).stat().st_size / 1024:.1f} KB)")


if __name__ == "__main__":
    main()
