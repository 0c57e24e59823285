"""Streaming (model.stream) and Keras stateful models, against Keras itself.

A stream fed a sequence step by step, or in chunks, must give the outputs of one Keras
call on the whole sequence; a stateful Keras model must match Keras across calls.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import assert_parity

import pyrnn

keras = pytest.importorskip("keras")
L = keras.layers


def _seeded(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-0.5, 0.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


def _save(model, tmp_path, name):
    path = str(tmp_path / f"{name}.keras")
    model.save(path)
    return path


def _masked_input(B, T, F, seed=1):
    x = np.random.default_rng(seed).standard_normal((B, T, F)).astype(np.float32)
    x[0, :2] = 0.0  # leading masked steps
    x[1 % B, 4:6] = 0.0  # a hole
    if B > 2:
        x[2, -3:] = 0.0  # trailing
    return x


CELLS = {
    "simple_rnn": lambda: L.SimpleRNN(6, return_sequences=True),
    "lstm": lambda: L.LSTM(6, return_sequences=True),
    "gru": lambda: L.GRU(6, return_sequences=True),
    "gru_v1": lambda: L.GRU(6, return_sequences=True, reset_after=False),
}


@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
@pytest.mark.parametrize("cell", list(CELLS))
def test_stream_steps_and_chunks_match_whole_sequence(tmp_path, cell, masked):
    layers = [keras.Input((None, 3))] + ([L.Masking()] if masked else []) + [CELLS[cell](), L.Dense(2)]
    model = _seeded(keras.Sequential(layers))
    x = _masked_input(3, 11, 3)
    ref = np.asarray(model(x))  # (3, 11, 2)
    m = pyrnn.load(_save(model, tmp_path, cell))
    s = m.stream(batch_size=3)
    steps = np.stack([s.step(x[:, t]) for t in range(x.shape[1])], axis=1)
    assert_parity(steps, ref)
    s.reset()
    chunks = np.concatenate([s.feed(x[:, a:b]) for a, b in [(0, 4), (4, 5), (5, 11)]], axis=1)
    assert_parity(chunks, ref)


def test_stacked_stream_with_last_output_head(tmp_path):
    """Stacked layers ending in a return_sequences=False layer: the step output is the model's output on the
    sequence so far (the last valid output when steps are masked)."""
    model = _seeded(keras.Sequential([keras.Input((None, 2)), L.Masking(), L.LSTM(5, return_sequences=True),
                                      L.GRU(4, return_sequences=True), L.SimpleRNN(3), L.Dense(1)]))
    x = _masked_input(3, 9, 2)
    s = pyrnn.load(_save(model, tmp_path, "stacked")).stream(3)
    for t in range(x.shape[1]):
        got = s.step(x[:, t])
        assert_parity(got, np.asarray(model(x[:, : t + 1])))


def test_embedding_stream_takes_ids(tmp_path):
    model = _seeded(keras.Sequential([keras.Input((None,), dtype="int32"), L.Embedding(20, 4, mask_zero=True),
                                      L.GRU(5, return_sequences=True), L.Dense(3, activation="softmax")]))
    ids = np.random.default_rng(2).integers(1, 20, size=(2, 8))
    ids[0, :3] = 0
    ref = np.asarray(model(ids))
    s = pyrnn.load(_save(model, tmp_path, "emb")).stream(2)
    got = np.stack([s.step(ids[:, t]) for t in range(8)], axis=1)
    assert_parity(got, ref)


def test_state_round_trip_and_row_reset(tmp_path):
    model = _seeded(keras.Sequential([keras.Input((None, 3)), L.LSTM(6, return_sequences=True, name="lstm"),
                                      L.Dense(2)]))
    m = pyrnn.load(_save(model, tmp_path, "rt"))
    x = _masked_input(3, 10, 3)
    a = m.stream(3)
    a.feed(x[:, :6])
    saved = a.state
    assert set(saved) == {"lstm/h", "lstm/c", "lstm/prev"} and saved["lstm/h"].shape == (3, 6)
    b = m.stream(3)
    b.state = saved  # e.g. restored in another process
    continued = a.feed(x[:, 6:])
    np.testing.assert_array_equal(b.feed(x[:, 6:]), continued)
    # Resetting row 1 makes it start a new sequence; the other rows continue.
    c = m.stream(3)
    c.feed(x[:, :6])
    c.reset(rows=[1])
    out = c.feed(x[:, 6:])
    fresh = m.stream(3).feed(x[:, 6:])
    np.testing.assert_array_equal(out[1], fresh[1])
    np.testing.assert_array_equal(out[[0, 2]], continued[[0, 2]])
    assert not np.array_equal(out[0], fresh[0])
    with pytest.raises(ValueError, match="shape"):
        c.state = {"lstm/h": np.zeros((2, 6)), "lstm/c": np.zeros((3, 6)), "lstm/prev": np.zeros((3, 6))}
    with pytest.raises(ValueError, match="outside"):
        c.reset(rows=[5])


def test_independent_streams_in_threads(tmp_path):
    model = _seeded(keras.Sequential([keras.Input((None, 3)), L.GRU(8, return_sequences=True), L.Dense(2)]))
    m = pyrnn.load(_save(model, tmp_path, "thr"))
    xs = [_masked_input(2, 30, 3, seed=s) for s in range(4)]
    serial = [np.stack([st.step(x[:, t]) for t in range(30)], 1) for st, x in ((m.stream(2), x) for x in xs)]
    results = [None] * 4

    def work(i):
        st = m.stream(2)
        results[i] = np.stack([st.step(xs[i][:, t]) for t in range(30)], 1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for got, want in zip(results, serial):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize(
    "layer,why",
    [
        (lambda: L.Bidirectional(L.LSTM(3, return_sequences=True)), "whole sequence"),
        (lambda: L.Conv1D(3, 3, padding="same"), "whole sequence"),
        (lambda: L.LSTM(3, return_sequences=True, go_backwards=True), "go_backwards"),
    ],
    ids=["bidirectional", "conv1d", "go_backwards"],
)
def test_models_that_cannot_stream_say_why(tmp_path, layer, why):
    model = keras.Sequential([keras.Input((None, 3)), layer(), L.LSTM(2)])
    m = pyrnn.load(_save(model, tmp_path, "nostream"))
    with pytest.raises(ValueError, match=why) as info:
        m.stream(1)
    assert "cannot stream" in str(info.value)
    assert isinstance(info.value, pyrnn.StreamError) and str(info.value).startswith("nostream.keras: cannot stream: ")


def _reset_keras(model):
    for layer in model.layers:
        if getattr(layer, "stateful", False):
            layer.reset_states()


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
def test_keras_stateful_model_matches_across_calls(tmp_path, cell):
    make = {"lstm": L.LSTM, "gru": L.GRU, "simple_rnn": L.SimpleRNN}[cell]
    model = _seeded(keras.Sequential([keras.Input(batch_shape=(3, None, 2)), L.Masking(),
                                      make(5, stateful=True, return_sequences=True), make(4, stateful=True),
                                      L.Dense(2)]))
    path = _save(model, tmp_path, f"stateful_{cell}")
    m = pyrnn.load(path)
    assert m.stateful
    x = _masked_input(3, 12, 2)
    _reset_keras(model)
    for a, b in [(0, 5), (5, 9), (9, 12)]:
        assert_parity(m.predict(x[:, a:b]), np.asarray(model(x[:, a:b])))
    # Two calls on the halves equal one call on the whole (no masked steps at the cut).
    m.reset_states()
    _reset_keras(model)
    whole = np.asarray(model(x))
    m.predict(x[:, :6])
    assert_parity(m.predict(x[:, 6:]), whole)
    # reset_states zeroes the state: the next call matches a fresh Keras model.
    m.reset_states()
    _reset_keras(model)
    assert_parity(m.predict(x[:, :4]), np.asarray(model(x[:, :4])))
    assert all(np.any(v != 0) for v in m.states.values())
    m.reset_states(layer=m.layers[1].name)
    assert not np.any(m.states[f"{m.layers[1].name}/h"])
    with pytest.raises(ValueError, match="batch"):
        m.predict(x[:2, :3])
    with pytest.raises(ValueError, match="stateful"):
        m.predict(x, batch_size=1)


def test_tf_keras_stateful_model(tmp_path):
    tf_keras = pytest.importorskip("tf_keras")
    K = tf_keras.layers
    model = _seeded(tf_keras.Sequential([
        K.LSTM(4, stateful=True, return_sequences=True, batch_input_shape=(2, None, 3)),
        K.GRU(3, stateful=True), K.Dense(1)]))
    path = str(tmp_path / "k2_stateful.h5")
    model.save(path)
    m = pyrnn.load(path)
    x = _masked_input(2, 8, 3)
    model.reset_states()
    for a, b in [(0, 3), (3, 8)]:
        assert_parity(m.predict(x[:, a:b]), np.asarray(model(x[:, a:b])))
