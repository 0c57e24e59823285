"""One streaming step of LSTM(50), F=1 -> Dense(1), batch 1, from Python.

    python bench/stream_compare.py

pyrnn: ``stream.step(x_t)``. Keras: a stateful model called on one step (``model(x)``
under tf.function, and ``model.predict``). ONNX Runtime: one LSTM cell step converted
with tf2onnx, the states fed explicitly and returned. Medians of interleaved rounds.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def timeit(fn, inner):
    t0 = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - t0) / inner


def main() -> int:
    import keras
    import tensorflow as tf

    import pyrnn

    H = 50
    keras.utils.set_random_seed(0)
    stateful = keras.Sequential([keras.Input(batch_shape=(1, 1, 1)), keras.layers.LSTM(H, stateful=True),
                                 keras.layers.Dense(1)])
    path = os.path.join(tempfile.mkdtemp(), "lstm50_stream.keras")
    stateful.save(path)
    stream = pyrnn.load(path).stream(batch_size=1)
    x_t = np.ones((1, 1), np.float32)
    x_k = x_t.reshape(1, 1, 1)
    call = tf.function(lambda v: stateful(v, training=False))

    runners = {
        "pyrnn stream.step": (lambda: stream.step(x_t), 20000),
        "Keras stateful tf.function": (lambda: call(x_k), 300),
        "Keras stateful predict": (lambda: stateful.predict(x_k, verbose=0), 20),
    }
    try:
        import onnxruntime as ort
        import tf2onnx

        cell, dense = stateful.layers[0].cell, stateful.layers[1]
        spec = [tf.TensorSpec((1, 1), tf.float32), tf.TensorSpec((1, H), tf.float32), tf.TensorSpec((1, H), tf.float32)]

        def step(x, h, c):
            out, (h2, c2) = cell(x, [h, c])
            return dense(out), h2, c2

        proto, _ = tf2onnx.convert.from_function(tf.function(step, input_signature=spec), input_signature=spec)
        so = ort.SessionOptions()
        so.intra_op_num_threads = pyrnn.get_num_threads()
        sess = ort.InferenceSession(proto.SerializeToString(), so, providers=["CPUExecutionProvider"])
        names = [i.name for i in sess.get_inputs()]
        state = {"h": np.zeros((1, H), np.float32), "c": np.zeros((1, H), np.float32)}

        def ort_step():
            y, state["h"], state["c"] = sess.run(None, {names[0]: x_t, names[1]: state["h"], names[2]: state["c"]})

        runners["ONNX Runtime (explicit states)"] = (ort_step, 5000)
    except Exception as exc:  # report, do not fail the benchmark
        print(f"ONNX Runtime skipped: {type(exc).__name__}: {exc}", file=sys.stderr)

    times = {k: [] for k in runners}
    for _ in range(7):  # interleaved rounds
        for name, (fn, inner) in runners.items():
            fn()
            times[name].append(timeit(fn, inner))
    base = statistics.median(times["pyrnn stream.step"])
    print(f"One step, LSTM({H}) F=1 -> Dense(1), batch 1, {pyrnn.get_num_threads()} threads, "
          f"ISA {pyrnn.config()['isa']}")
    print("| runner | median per step | vs pyrnn |")
    print("|---|---|---|")
    for name, ts in times.items():
        m = statistics.median(ts)
        print(f"| {name} | {m * 1e6:.2f} us | {m / base:.1f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
