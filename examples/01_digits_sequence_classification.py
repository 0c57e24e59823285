"""Sequence classification with pyrnn: handwritten digits read row by row.

scikit-learn's bundled digits dataset (1797 images of 8x8 pixels) becomes a
sequence task by reading each image one pixel row at a time: 8 time steps of
8 features. Two small Keras models are trained on it:

    SimpleRNN(64) -> Dense(10, softmax)
    LSTM(64)      -> Dense(10, softmax)

Each model is saved as a ``.keras`` file and loaded back with ``pyrnn.load``;
the script then checks that pyrnn gives Keras's predictions and times both.

TensorFlow/Keras are used only to train the models and to produce the reference
predictions; the pyrnn side needs nothing but numpy.

    pip install scikit-learn
    python examples/01_digits_sequence_classification.py            # ~1 minute
    python examples/01_digits_sequence_classification.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter quiet

import numpy as np

import pyrnn

SEED = 7


# ---------------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------------
def load_digit_sequences(seed: int):
    """Digits as (N, 8 steps, 8 features) float32 in [0, 1], split 75/25 (stratified)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)  # (1797, 8, 8): time step = pixel row
    y = digits.target.astype(np.int64)
    return train_test_split(x, y, test_size=0.25, random_state=seed, stratify=y)


# ---------------------------------------------------------------------------------------------------
# Models (Keras, training only)
# ---------------------------------------------------------------------------------------------------
def build_model(kind: str):
    import keras

    recurrent = {"SimpleRNN": keras.layers.SimpleRNN, "LSTM": keras.layers.LSTM}[kind]
    model = keras.Sequential(
        [keras.Input((8, 8)), recurrent(64), keras.layers.Dense(10, activation="softmax")],
        name=f"digits_{kind.lower()}",
    )
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


# ---------------------------------------------------------------------------------------------------
# Comparison and timing helpers
# ---------------------------------------------------------------------------------------------------
def compare(pyrnn_out: np.ndarray, keras_out: np.ndarray) -> dict:
    """How far pyrnn's output is from Keras's, and whether the predicted classes agree."""
    a, b = np.asarray(pyrnn_out, dtype=np.float64), np.asarray(keras_out, dtype=np.float64)
    max_abs = float(np.max(np.abs(a - b)))
    return {
        "max_abs": max_abs,
        "rel": max_abs / max(1.0, float(np.max(np.abs(b)))),
        "argmax_agree": float(np.mean(a.argmax(axis=1) == b.argmax(axis=1))),
    }


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


def fmt_ratio(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:.0f}x"


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:8.1f} us"
    return f"{seconds * 1e3:8.2f} ms"


# ---------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description="Digits as sequences: Keras-trained SimpleRNN/LSTM run by pyrnn")
    parser.add_argument("--epochs", type=int, default=None, help="training epochs (default 25, or 3 with --quick)")
    parser.add_argument("--repeats", type=int, default=None, help="timing repeats (default 50, or 5 with --quick)")
    parser.add_argument("--quick", action="store_true", help="few epochs and repeats (a smoke test)")
    args = parser.parse_args()
    epochs = args.epochs if args.epochs is not None else (3 if args.quick else 25)
    repeats = args.repeats if args.repeats is not None else (5 if args.quick else 50)

    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(SEED)  # seeds Python, NumPy and the backend: reproducible training
    tf.config.experimental.enable_op_determinism()  # same weights on every run (on the same machine)
    x_train, x_test, y_train, y_test = load_digit_sequences(SEED)
    print(f"digits: {len(x_train)} train / {len(x_test)} test sequences of shape {x_test.shape[1:]} "
          f"(8 pixel rows x 8 pixels); {epochs} epochs; timings are medians of {repeats} calls")
    print(f"Keras {keras.__version__} (TensorFlow {tf.__version__}, CPU); pyrnn {pyrnn.__version__}")

    accuracy_rows, error_rows, timing_rows = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("SimpleRNN", "LSTM"):
            # --- 1. train in Keras and save ------------------------------------------------------
            model = build_model(kind)
            start = time.perf_counter()
            model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
            train_s = time.perf_counter() - start
            path = Path(tmp) / f"digits_{kind.lower()}.keras"
            model.save(path)

            # --- 2. load with pyrnn and predict (numpy in, numpy out) ----------------------------
            net = pyrnn.load(path)
            pyrnn_probs = np.asarray(net.predict(x_test))

            # --- 3. compare with Keras -----------------------------------------------------------
            keras_probs = model.predict(x_test, batch_size=len(x_test), verbose=0)
            keras_acc = float(np.mean(keras_probs.argmax(axis=1) == y_test))
            pyrnn_acc = float(np.mean(pyrnn_probs.argmax(axis=1) == y_test))
            accuracy_rows.append((kind, train_s, keras_acc, pyrnn_acc))
            error_rows.append((kind, compare(pyrnn_probs, keras_probs)))

            # --- 4. time one sample and the whole test set ---------------------------------------
            for label, x in (("1", x_test[:1]), (str(len(x_test)), x_test)):
                t_predict = median_seconds(lambda x=x, m=model: m.predict(x, batch_size=len(x), verbose=0), repeats)
                # A plain eager call (no tf.function, no predict loop): Keras's fastest path for small inputs.
                t_call = median_seconds(lambda x=x, model=model: model(x, training=False).numpy(), repeats)
                t_pyrnn = median_seconds(lambda x=x, net=net: net.predict(x), repeats)
                timing_rows.append((kind, label, t_predict, t_call, t_pyrnn))

    # --- report --------------------------------------------------------------------------------
    print("\nTest accuracy")
    print(f"  {'model':<10} {'train':>7} {'Keras':>8} {'pyrnn':>8}")
    for kind, train_s, keras_acc, pyrnn_acc in accuracy_rows:
        print(f"  {kind:<10} {train_s:6.1f}s {keras_acc:8.2%} {pyrnn_acc:8.2%}")

    print("\npyrnn vs Keras on the test set (softmax probabilities)")
    print(f"  {'model':<10} {'max |a-b|':>10} {'relative':>10} {'argmax agrees':>14}")
    for kind, err in error_rows:
        print(f"  {kind:<10} {err['max_abs']:10.2e} {err['rel']:10.2e} {err['argmax_agree']:14.2%}")

    print("\nInference time (median per call)")
    print(f"  {'model':<10} {'batch':>5} {'Keras predict':>14} {'Keras model(x)':>15} {'pyrnn predict':>14}"
          f" {'vs predict':>11} {'vs model(x)':>12}")
    for kind, label, t_predict, t_call, t_pyrnn in timing_rows:
        print(f"  {kind:<10} {label:>5} {fmt_time(t_predict):>14} {fmt_time(t_call):>15} {fmt_time(t_pyrnn):>14}"
              f" {fmt_ratio(t_predict / t_pyrnn):>11} {fmt_ratio(t_call / t_pyrnn):>12}")


if __name__ == "__main__":
    main()
