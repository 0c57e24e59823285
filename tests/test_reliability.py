"""Reliability: hypothesis fuzzing of the Python boundary against the float64 oracle,
memory staying flat over many calls, oversized work refused before allocating, thread
stress, pickling and multiprocessing workers."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import pickle
import threading

import numpy as np
import oracle
import pytest
from conftest import GATES, assert_parity, make_weights, rel_err
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pyrnn
from pyrnn.keras_files import ModelSource

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def seq_model(kind, D, units, return_sequences, dense_units, act, masking, rng, name="fuzz"):
    """A Sequential [Input, (Masking), RNN, Dense] built from a config dict, no Keras needed."""
    f32 = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}
    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, None, D], "dtype": "float32", "name": "x"}}]
    if masking:
        layers.append({"class_name": "Masking", "config": {"name": "mask", "trainable": True, "dtype": f32,
                                                            "mask_value": 0.0}})
    layers.append({"class_name": kind, "config": {"name": "rnn", "trainable": True, "dtype": f32, "units": units,
                                                  "return_sequences": return_sequences, "activation": "tanh",
                                                  "recurrent_activation": "sigmoid", "use_bias": True,
                                                  "reset_after": True}})
    layers.append({"class_name": "Dense", "config": {"name": "head", "trainable": True, "dtype": f32,
                                                     "units": dense_units, "activation": act, "use_bias": True}})
    k, r, b = make_weights(kind, D, units, rng)
    W = rng.uniform(-0.5, 0.5, size=(units, dense_units)).astype(np.float32)
    bd = rng.uniform(-0.5, 0.5, size=(dense_units,)).astype(np.float32)
    weights = {"rnn": [("rnn/0", k), ("rnn/1", r), ("rnn/2", b)], "head": [("head/0", W), ("head/1", bd)]}
    config = {"class_name": "Sequential", "config": {"name": name, "layers": layers}}
    model = pyrnn.Model(ModelSource(name, config, "3.15.1", weights, "object"))
    return model, (k, r, b, W, bd)


def model_oracle(kind, x, weights, return_sequences, act, masking):
    k, r, b, W, bd = weights
    x = np.asarray(x, np.float64)
    mask = None
    if masking:
        mask = np.any(x != 0.0, axis=-1)
        x = x * mask[..., None]
    y = oracle.rnn(kind, x, k, r, b, return_sequences=return_sequences, mask=mask)
    return oracle.act(act)(y @ W.astype(np.float64) + bd)


@FUZZ
@given(
    kind=st.sampled_from(sorted(GATES)),
    B=st.integers(0, 4), T=st.integers(1, 7), D=st.integers(1, 5), units=st.integers(1, 20),
    seq=st.booleans(), masking=st.booleans(), dense_units=st.integers(1, 6),
    act=st.sampled_from(["linear", "relu", "softmax", "sigmoid", "gelu"]),
    dtype=st.sampled_from(["float32", "float64", "int32", "bool", "float16"]),
    layout=st.sampled_from(["c", "fortran", "strided"]),
    batch_size=st.one_of(st.none(), st.integers(1, 5)),
    seed=st.integers(0, 2**16),
)
def test_model_boundary_against_oracle(kind, B, T, D, units, seq, masking, dense_units, act, dtype, layout,
                                       batch_size, seed):
    rng = np.random.default_rng(seed)
    model, weights = seq_model(kind, D, units, seq, dense_units, act, masking, rng)
    x = rng.normal(size=(B, 2 * T if layout == "strided" else T, D))
    if masking and B:
        x[0, : T // 2] = 0.0  # masked steps
    if dtype == "bool":
        x = x > 0
    x = x.astype(dtype)
    if layout == "strided":
        x = x[:, ::2]
    elif layout == "fortran":
        x = np.asfortranarray(x)
    got = model.predict(x, batch_size=batch_size)
    ref = model_oracle(kind, x.astype(np.float32), weights, seq, act, masking)
    assert got.dtype == np.float32 and got.shape == ref.shape
    assert_parity(got, ref)
    if B:
        np.testing.assert_array_equal(model(x), model.predict(x, batch_size=1))  # batch-invariant


@FUZZ
@given(
    kind=st.sampled_from(sorted(GATES)), B=st.integers(1, 4), T=st.integers(1, 6), D=st.integers(1, 4),
    units=st.integers(1, 18), backwards=st.booleans(), seq=st.booleans(), with_state=st.booleans(),
    with_mask=st.booleans(), seed=st.integers(0, 2**16),
)
def test_layer_boundary_against_oracle(kind, B, T, D, units, backwards, seq, with_state, with_mask, seed):
    rng = np.random.default_rng(seed)
    w = make_weights(kind, D, units, rng)
    layer = getattr(pyrnn, kind)(*w, go_backwards=backwards, return_sequences=seq, return_state=True)
    x = rng.normal(size=(B, T, D)).astype(np.float64)  # float64 input: converted at the boundary
    n = 2 if kind == "LSTM" else 1
    states = [rng.normal(size=(B, units)) for _ in range(n)] if with_state else None
    mask = rng.random((B, T)) > 0.3 if with_mask else None
    got = layer(x, initial_state=states, mask=mask)
    ref = oracle.rnn(kind, x.astype(np.float32), *w, return_sequences=seq, return_state=True,
                     go_backwards=backwards, initial_state=states, mask=mask)
    assert_parity(got, ref)


@pytest.mark.parametrize("bad", [
    lambda x: x[..., :1], lambda x: x[0], lambda x: x.astype(object), lambda x: x.astype(complex),
    lambda x: [[["a"]]], lambda x: None,
])
def test_model_rejects_bad_inputs_cleanly(bad):
    model, _ = seq_model("LSTM", 3, 4, False, 2, "linear", False, np.random.default_rng(0))
    x = np.ones((2, 5, 3), np.float32)
    with pytest.raises((ValueError, TypeError)) as info:
        model.predict(bad(x))
    assert "fuzz" in str(info.value) or "input" in str(info.value)


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc (Linux)")
def test_memory_is_flat_over_100k_calls_and_large_batches(record_property):
    model, _ = seq_model("LSTM", 1, 16, False, 4, "softmax", True, np.random.default_rng(1))
    x = np.random.default_rng(2).normal(size=(1, 10, 1)).astype(np.float32)
    for _ in range(2000):  # warm up allocator pools and caches
        model.predict(x)
    before = _rss_bytes()
    for _ in range(100_000):
        model.predict(x)
    small_growth = _rss_bytes() - before
    big = np.random.default_rng(3).normal(size=(4096, 30, 1)).astype(np.float32)
    for _ in range(40):  # the allocator keeps the first calls' peak (tens of MB); then it plateaus
        model.predict(big)
    before = _rss_bytes()
    for _ in range(200):  # leaking even the 64 KB output of each call would add 12.5 MiB here
        model.predict(big)
    big_growth = _rss_bytes() - before
    record_property("rss_growth_per_100k_calls_bytes", small_growth)
    print(f"RSS growth: {small_growth / 1024:.0f} KiB over 100,000 calls, {big_growth / 1024:.0f} KiB over 200 "
          "more calls of batch 4096")
    assert small_growth < 4 << 20
    assert big_growth < 6 << 20  # allocator noise seen: up to about 4 MiB


def test_large_intermediates_are_recycled_and_released():
    """Blocks of 1 MiB and up are kept for the next call: reusing one (stale data in it)
    changes no result, and pyrnn.release_memory() frees them."""
    rng = np.random.default_rng(7)
    model, weights = seq_model("LSTM", 2, 16, True, 3, "linear", False, rng)
    xa = rng.normal(size=(512, 40, 2)).astype(np.float32)  # the LSTM's output: 1.25 MiB
    xb = rng.normal(size=(512, 40, 2)).astype(np.float32)
    pyrnn.release_memory()
    ya = model.predict(xa)
    assert pyrnn.release_memory() >= 1 << 20
    assert pyrnn.release_memory() == 0
    ya_fresh = model.predict(xa)  # fresh memory
    model.predict(xb)             # leaves its blocks for the next call
    ya_reused = model.predict(xa)
    np.testing.assert_array_equal(ya_reused, ya_fresh)
    np.testing.assert_array_equal(ya, ya_fresh)
    ref = model_oracle("LSTM", xa, weights, True, "linear", False)
    assert rel_err(ya_reused, ref) <= 1e-5
    model.predict(xb)  # a forked worker inherits the kept blocks and starts its own cache
    ctx = multiprocessing.get_context("fork")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        np.testing.assert_array_equal(pool.submit(model.predict, xa).result(), ya_fresh)
    pyrnn.release_memory()


def test_oversized_work_is_refused_before_allocating():
    rng = np.random.default_rng(4)
    model, _ = seq_model("GRU", 2, 8, True, 3, "linear", False, rng)
    x = np.ones((64, 50, 2), np.float32)
    pyrnn.set_memory_limit(64 * 1024)
    try:
        with pytest.raises(ValueError, match="layer 'rnn'.*memory limit"):
            model.predict(x)
        assert model.predict(x, batch_size=4).shape == (64, 50, 3)  # chunks fit
    finally:
        pyrnn.set_memory_limit(None)
    # A hostile config: RepeatVector(2**40) would need terabytes; the call fails cleanly.
    f32 = "float32"
    layers = [{"class_name": "InputLayer", "config": {"batch_shape": [None, 3], "dtype": f32, "name": "v"}},
              {"class_name": "RepeatVector", "config": {"name": "rep", "trainable": True, "dtype": f32, "n": 2**40}}]
    config = {"class_name": "Sequential", "config": {"name": "h", "layers": layers}}
    hostile = pyrnn.Model(ModelSource("hostile", config, "3", {}, "object"))
    with pytest.raises(ValueError, match="layer 'rep'"):
        hostile.predict(np.ones((2, 3), np.float32))


def test_non_finite_weights_are_refused():
    rng = np.random.default_rng(5)
    model, w = seq_model("LSTM", 2, 4, False, 2, "linear", False, rng)
    k, r, b, W, bd = w
    r = r.copy()
    r[0, 0] = np.nan
    source = model._source
    weights = dict(source.weights, rnn=[("rnn/0", k), ("rnn/1", r), ("rnn/2", b)])
    with pytest.raises(pyrnn.ModelFormatError, match="'rnn'.*recurrent_kernel.*NaN"):
        pyrnn.Model(ModelSource("nan_model", source.config, "3", weights, "object"))


def test_threads_over_several_models_match_serial():
    rng = np.random.default_rng(6)
    models = [seq_model(kind, 3, u, seq, 2, "tanh", True, rng, name=f"m{i}")[0]
              for i, (kind, u, seq) in enumerate([("LSTM", 24, True), ("GRU", 40, False), ("SimpleRNN", 8, True)])]
    inputs = [rng.normal(size=(b, 17, 3)).astype(np.float32) for b in (1, 5, 33, 64)]
    serial = [[m.predict(x) for x in inputs] for m in models]
    errors = []

    def work(seed):
        r = np.random.default_rng(seed)
        for _ in range(40):
            i, j = r.integers(len(models)), r.integers(len(inputs))
            if not np.array_equal(models[i].predict(inputs[j]), serial[i][j]):
                errors.append((i, j))

    threads = [threading.Thread(target=work, args=(s,)) for s in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_models_pickle_and_work_in_worker_processes():
    rng = np.random.default_rng(7)
    model, _ = seq_model("GRU", 2, 12, False, 3, "softmax", True, rng)
    x = rng.normal(size=(40, 9, 2)).astype(np.float32)
    expected = model.predict(x)
    clone = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(clone.predict(x), expected)
    chunks = np.array_split(x, 4)
    for method in ("fork", "spawn"):
        ctx = multiprocessing.get_context(method)
        with concurrent.futures.ProcessPoolExecutor(2, mp_context=ctx) as pool:
            parts = list(pool.map(pyrnn.Model.predict, [model] * len(chunks), chunks))
        np.testing.assert_array_equal(np.concatenate(parts), expected)
