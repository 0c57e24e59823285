"""pytest-benchmark suite for whole models loaded from files (not part of the CI run).

    pytest bench/test_bench_models.py --benchmark-columns=median,iqr,ops

``test_call_overhead`` times ``Model.predict`` on a trivial model (one Dense unit on
one feature): what a call costs beyond its arithmetic (argument checks, the crossing
into C++, output allocation). ``test_graph_run`` is the same without the Python-side
checks. The other cases are the issue's model configs at small batches.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyrnn

keras = pytest.importorskip("keras")
L = keras.layers

MODELS = {
    "dense1": lambda: [keras.Input((1,)), L.Dense(1)],
    "lstm50_dense46_softmax": lambda: [keras.Input((49, 1)), L.LSTM(50), L.Dense(46, activation="softmax")],
    "simplernn50_dense46_softmax": lambda: [keras.Input((49, 1)), L.SimpleRNN(50), L.Dense(46, activation="softmax")],
    "2xlstm50_dense1": lambda: [keras.Input((100, 1)), L.LSTM(50, return_sequences=True), L.LSTM(50), L.Dense(1)],
}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    out = {}
    d = tmp_path_factory.mktemp("models")
    for name, layers in MODELS.items():
        keras.utils.set_random_seed(0)
        m = keras.Sequential(layers())
        path = str(d / f"{name}.keras")
        m.save(path)
        out[name] = pyrnn.load(path)
    return out


def _x(model, batch):
    shape = [batch] + list(model.input_shape[1:])
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def test_call_overhead(benchmark, saved):
    m = saved["dense1"]
    benchmark(m.predict, _x(m, 1))


def test_graph_run(benchmark, saved):
    m = saved["dense1"]
    benchmark(m._graph.run, [_x(m, 1)])


@pytest.mark.parametrize("batch", [1, 8])
@pytest.mark.parametrize("name", [n for n in MODELS if n != "dense1"])
def test_model(benchmark, saved, name, batch):
    m = saved[name]
    benchmark(m.predict, _x(m, batch))


def test_stream_step(benchmark, saved):
    """One streaming step of LSTM(50) F=1 -> Dense(46) softmax, batch 1 (issue goal: <= 2 us)."""
    stream = saved["lstm50_dense46_softmax"].stream(batch_size=1)
    benchmark(stream.step, np.ones((1, 1), np.float32))
