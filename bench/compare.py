"""Side-by-side latency of pyrnn and the installed peers, in one process, interleaved.

    python bench/compare.py [--quick]

For each config the peers run in rounds (pyrnn, tf.function, ONNX Runtime, PyTorch, ...
one call each, repeated), so machine noise hits all of them alike; the table reports
medians and the ratio best-fp32-peer / pyrnn. Peers that are not installed are skipped.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

import numpy as np  # noqa: E402

import pyrnn  # noqa: E402


def keras_model(cell, units, steps, feats, head):
    import keras

    layers = [keras.Input((steps, feats)), getattr(keras.layers, cell)(units)]
    if head:
        layers.append(keras.layers.Dense(head, activation="softmax"))
    return keras.Sequential(layers)


def pyrnn_runner(model, cell):
    layer = getattr(pyrnn, cell).from_keras(model.layers[0])
    return lambda x: layer(x)


def tf_function_runner(model):
    import tensorflow as tf

    fn = tf.function(lambda x: model.layers[0](x, training=False))
    return lambda x: fn(tf.constant(x)).numpy()


def ort_runner(model, steps, feats):
    try:
        import onnxruntime as ort
        import tensorflow as tf
        import tf2onnx
    except ImportError:
        return None
    layer = model.layers[0]
    spec = (tf.TensorSpec((None, steps, feats), tf.float32, name="x"),)
    fn = tf.function(lambda x: layer(x, training=False))
    proto, _ = tf2onnx.convert.from_function(fn, input_signature=spec, opset=17)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = pyrnn.get_num_threads()  # equal thread counts
    sess = ort.InferenceSession(proto.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})[0]


def measure(runners, x, rounds, inner):
    times = {k: [] for k in runners}
    for fn in runners.values():
        fn(x)  # warm up
    for _ in range(rounds):
        for k, fn in runners.items():
            t0 = time.perf_counter()
            for _ in range(inner):
                fn(x)
            times[k].append((time.perf_counter() - t0) / inner)
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer rounds")
    args = ap.parse_args(argv)
    configs = [("LSTM", 50, 49, 1, 1), ("LSTM", 50, 49, 1, 64), ("GRU", 256, 120, 33, 1), ("SimpleRNN", 50, 49, 1, 1)]
    rounds = 5 if args.quick else 15
    print("| layer | batch | pyrnn | tf.function | ORT | best peer / pyrnn |")
    print("|---|---|---|---|---|---|")
    for cell, units, steps, feats, batch in configs:
        model = keras_model(cell, units, steps, feats, head=0)
        x = np.random.default_rng(0).normal(size=(batch, steps, feats)).astype(np.float32)
        runners = {"pyrnn": pyrnn_runner(model, cell), "tf.function": tf_function_runner(model)}
        ort_fn = ort_runner(model, steps, feats)
        if ort_fn:
            runners["ORT"] = ort_fn
        inner = 200 if units <= 64 and batch == 1 else 5
        med = measure(runners, x, rounds, inner)
        peers = [v for k, v in med.items() if k != "pyrnn"]
        fmt = lambda s: f"{s * 1e3:.3f} ms"  # noqa: E731
        print(f"| {cell}({units}) T={steps} F={feats} | {batch} | {fmt(med['pyrnn'])} | {fmt(med['tf.function'])} | "
              f"{fmt(med['ORT']) if 'ORT' in med else '—'} | {min(peers) / med['pyrnn']:.1f}× |")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
