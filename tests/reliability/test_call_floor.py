"""The small-call path: ``predict(x, out=...)``, ``stream.step(x_t, out=...)`` and the
per-thread reuse of small native buffers.

Results written into caller arrays must be bit-identical to the returned ones; arrays a
call returned must never change under later calls (the native side recycles small
blocks); bad ``out`` arrays are refused with a message naming what was expected, and a
refused stream step leaves the states where they were. Speed is measured in
bench/call_floor.py, not here.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
from conftest import save_model

import pyrnn

keras = pytest.importorskip("keras")
L = keras.layers


def _seeded(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(-0.5, 0.5, size=w.shape).astype(np.float32) for w in model.get_weights()])
    return model


@pytest.fixture(scope="module")
def lstm_dense(tmp_path_factory):
    m = _seeded(keras.Sequential([keras.Input((None, 1)), L.LSTM(50), L.Dense(46, activation="softmax")]))
    return pyrnn.load(save_model(m, tmp_path_factory.mktemp("floor") / "lstm_dense.keras"))


@pytest.fixture(scope="module")
def two_outputs(tmp_path_factory):
    x = keras.Input((None, 2))
    y = L.LSTM(8, return_sequences=True)(x)
    m = _seeded(keras.Model(x, [L.Dense(3)(y), L.Dense(1)(L.LSTM(4)(y))]))
    return pyrnn.load(save_model(m, tmp_path_factory.mktemp("floor") / "two.keras"))


def _x(B, T, F, seed=1):
    return np.random.default_rng(seed).standard_normal((B, T, F)).astype(np.float32)


@pytest.mark.parametrize("B", [1, 5])
def test_predict_out_is_bit_identical_and_returned(lstm_dense, B):
    x = _x(B, 49, 1)
    ref = lstm_dense.predict(x)
    out = np.full((B, 46), np.nan, np.float32)
    got = lstm_dense.predict(x, out=out)
    assert got is out
    np.testing.assert_array_equal(out, ref)
    out2 = np.full((B, 46), np.nan, np.float32)  # the chunked path too
    assert lstm_dense.predict(x, batch_size=2, out=[out2])[0] is out2
    np.testing.assert_array_equal(out2, ref)


def test_predict_out_with_several_outputs(two_outputs):
    x = _x(3, 7, 2)
    ref = two_outputs.predict(x)
    outs = [np.empty((3, 7, 3), np.float32), np.empty((3, 1), np.float32)]
    assert two_outputs.predict(x, out=outs) is outs
    for o, r in zip(outs, ref):
        np.testing.assert_array_equal(o, r)


def test_returned_arrays_are_not_clobbered_by_later_calls(lstm_dense):
    xs = [_x(1, 49, 1, seed=s) for s in range(20)]
    ys = [lstm_dense.predict(x) for x in xs]
    again = [lstm_dense.predict(x) for x in xs]
    for y, z in zip(ys, again):
        np.testing.assert_array_equal(y, z)
    assert len({y.ctypes.data for y in ys}) == len(ys)  # every live result has its own memory
    s = lstm_dense.stream()
    steps = [s.step(x[:, 0]) for x in xs]
    s.reset()
    for x, y in zip(xs, steps):
        np.testing.assert_array_equal(s.step(x[:, 0]), y)
    s.reset()
    for x, y in zip(xs, steps):  # out= reuses one array: earlier results stay as they were
        buf = np.empty((1, 46), np.float32)
        np.testing.assert_array_equal(s.step(x[:, 0], out=buf), y)


def test_stream_step_out_is_bit_identical(lstm_dense):
    x = _x(2, 30, 1)
    a, b = lstm_dense.stream(batch_size=2), lstm_dense.stream(batch_size=2)
    out = np.empty((2, 46), np.float32)
    for t in range(x.shape[1]):
        ref = a.step(x[:, t])
        assert b.step(x[:, t], out=out) is out
        np.testing.assert_array_equal(out, ref)
    np.testing.assert_array_equal(lstm_dense.predict(x), out)


def test_stream_step_out_with_several_outputs(two_outputs):
    x = _x(2, 5, 2)
    a, b = two_outputs.stream(batch_size=2), two_outputs.stream(batch_size=2)
    outs = [np.empty((2, 3), np.float32), np.empty((2, 1), np.float32)]
    for t in range(5):
        ref = a.step(x[:, t])
        b.step(x[:, t], out=outs)
        for o, r in zip(outs, ref):
            np.testing.assert_array_equal(o, r)


BAD = [
    (lambda: np.empty((1, 46), np.float64), TypeError, "dtype float32, got float64"),
    (lambda: np.empty((2, 46), np.float32), ValueError, r"shape \(1, 46\), got \(2, 46\)"),
    (lambda: np.empty((1, 45), np.float32), ValueError, r"shape \(1, 46\), got \(1, 45\)"),
    (lambda: np.empty((1, 92), np.float32)[:, ::2], ValueError, "C-contiguous"),
    (lambda: [np.empty((1, 46), np.float32)] * 2, ValueError, "takes 1 array"),
    (lambda: "nope", TypeError, "must be a numpy array"),
]


def _read_only():
    a = np.empty((1, 46), np.float32)
    a.flags.writeable = False
    return a


BAD.append((_read_only, ValueError, "read-only"))


@pytest.mark.parametrize("make,exc,msg", BAD)
def test_bad_out_arrays_are_refused_clearly(lstm_dense, make, exc, msg):
    x = _x(1, 4, 1)
    with pytest.raises(exc, match=msg):
        lstm_dense.predict(x, out=make())
    s = lstm_dense.stream()
    s.step(x[:, 0])
    before = s.state
    with pytest.raises(exc, match=msg):
        s.step(x[:, 1], out=make())
    for k, v in s.state.items():  # refused before the step: the states did not move
        np.testing.assert_array_equal(v, before[k])


def test_native_out_check_names_the_output(lstm_dense):
    x = _x(1, 4, 1)
    with pytest.raises(TypeError, match=r"out\[0\]: expected a float32 array"):
        lstm_dense._graph.run([x], [np.empty((1, 46), np.float64)])
    with pytest.raises(ValueError, match=r"out\[0\]: expected shape \(1, 46\), got \(3, 46\)"):
        lstm_dense._graph.run([x], [np.empty((3, 46), np.float32)])


def test_one_model_many_threads_with_out(lstm_dense):
    xs = [_x(1 + i % 3, 20, 1, seed=i) for i in range(8)]
    refs = [lstm_dense.predict(x) for x in xs]
    errors = []

    def work(i):
        try:
            out = np.empty_like(refs[i])
            for _ in range(200):
                np.testing.assert_array_equal(lstm_dense.predict(xs[i], out=out), refs[i])
                np.testing.assert_array_equal(lstm_dense.predict(xs[i]), refs[i])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_native_run_still_converts_other_inputs(lstm_dense):
    """The plan takes float32 C-contiguous arrays as they are and converts anything else."""
    x = _x(2, 6, 1)
    ref = lstm_dense._graph.run([x])[0]
    for other in (x.astype(np.float64), np.asfortranarray(x), x.tolist(), x[:, ::1]):
        np.testing.assert_array_equal(lstm_dense._graph.run([other])[0], ref)
    with pytest.raises(TypeError):
        lstm_dense._graph.run([object()])


# -- the native fast entries (FastRun, Stream.fast_step) and their fallbacks -------------------


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    m = _seeded(keras.Sequential([keras.Input((None, 3)), L.SimpleRNN(4), L.Dense(2)]))
    return pyrnn.load(save_model(m, tmp_path_factory.mktemp("floor") / "tiny.keras"))


def _full_path(model, x):  # the general path, bypassing the fast entry
    return model._graph.run(model._inputs(x))[0]


def test_fast_entry_is_taken_and_bit_identical(lstm_dense, tiny):
    for model, x in ((lstm_dense, _x(1, 49, 1)), (lstm_dense, _x(3, 7, 1)), (tiny, _x(1, 1, 3)), (tiny, _x(2, 5, 3))):
        y = model._fast_run(x, None)
        assert type(y) is np.ndarray and y.dtype == np.float32 and y.flags.c_contiguous and y.flags.writeable
        np.testing.assert_array_equal(y, _full_path(model, x))
        np.testing.assert_array_equal(model.predict(x), y)
        np.testing.assert_array_equal(model(x), y)


@pytest.mark.parametrize("make", [
    lambda x: x.astype(np.float64),                       # converted by the full path
    lambda x: x.astype(">f4"),                            # non-native byte order
    lambda x: np.asfortranarray(np.repeat(x, 2, axis=2))[:, :, ::2],  # not C-contiguous
    lambda x: x.tolist(),                                 # a list
    lambda x: [x],                                        # a one-element list
    lambda x: x.view(np.matrix) if x.ndim == 2 else x.view(type("Sub", (np.ndarray,), {})),  # a subclass
    lambda x: np.require(x, requirements="C").copy().__array__(),  # a plain copy
])
def test_fast_entry_declines_and_the_full_path_answers(tiny, make):
    x = _x(2, 5, 3)
    ref = _full_path(tiny, x)
    arg = make(x)
    np.testing.assert_array_equal(tiny.predict(arg), ref)


@pytest.mark.parametrize("bad,exc,msg", [
    (lambda: np.zeros((1, 5, 4), np.float32), ValueError, "must have shape"),
    (lambda: np.zeros((5, 3), np.float32), ValueError, "must have shape"),
    (lambda: np.array([["a"]]), TypeError, "must be numeric"),
])
def test_fast_entry_declines_bad_input_with_the_usual_errors(tiny, bad, exc, msg):
    x = bad()
    assert tiny._fast_run(x, None) is None
    with pytest.raises(exc, match=msg):
        tiny.predict(x)


def test_fast_entry_out_and_its_fallbacks(tiny):
    x = _x(2, 5, 3)
    ref = _full_path(tiny, x)
    out = np.full((2, 2), np.nan, np.float32)
    assert tiny.predict(x, out=out) is out
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(ValueError, match=r"shape \(2, 2\), got \(3, 2\)"):  # declined, then the full path names it
        tiny.predict(x, out=np.empty((3, 2), np.float32))
    with pytest.raises(TypeError, match="float32"):
        tiny.predict(x, out=np.empty((2, 2), np.float64))
    ro = np.empty((2, 2), np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        tiny.predict(x, out=ro)


def test_call_follows_a_subclass_predict(tmp_path):
    m = pyrnn.load(save_model(_seeded(keras.Sequential([keras.Input((None, 3)), L.SimpleRNN(4)])),
                              tmp_path / "sub.keras"))

    class Sub(type(m)):  # like TorchModel: a subclass that redefines predict
        def predict(self, x, batch_size=None, verbose=0, out=None):
            return "subclass predict"

    m.__class__ = Sub
    assert m(_x(1, 2, 3)) == "subclass predict"


def test_fast_entry_results_are_independent(tiny):
    xs = [_x(1, 1, 3, seed=s) for s in range(50)]
    ys = [tiny.predict(x) for x in xs]
    for x, y in zip(xs, ys):
        np.testing.assert_array_equal(y, _full_path(tiny, x))
    ys[0][...] = 7  # a caller writing to a result touches nothing else
    np.testing.assert_array_equal(tiny.predict(xs[1]), ys[1])


def test_fast_entries_from_many_threads(lstm_dense, tiny):
    cases = [(m, _x(1 + s % 3, 1 + s % 9, m.input_shape[-1], seed=s)) for s in range(12) for m in (lstm_dense, tiny)]
    refs = [_full_path(m, x) for m, x in cases]
    errors = []

    def work():
        try:
            for _ in range(30):
                for (m, x), r in zip(cases, refs):
                    np.testing.assert_array_equal(m.predict(x), r)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_fast_step_fallbacks_match_the_full_step(lstm_dense):
    x = _x(1, 12, 1)
    ref = lstm_dense.stream()
    want = [ref._native.step([np.ascontiguousarray(x[:, t])], [True], [True])[0] for t in range(12)]
    s = lstm_dense.stream()
    forms = [lambda a: a, lambda a: a.astype(np.float64), lambda a: a.tolist(), lambda a: a.astype(">f4"),
             lambda a: np.repeat(a, 2, axis=1)[:, ::2]]
    for t in range(12):
        got = s.step(forms[t % len(forms)](np.ascontiguousarray(x[:, t])))
        np.testing.assert_array_equal(got, want[t])
    with pytest.raises(ValueError, match="one timestep of shape"):
        s.step(np.zeros((1, 2), np.float32))
    with pytest.raises(ValueError, match="one timestep of shape"):
        s.step(np.zeros((2, 1), np.float32))
    assert s._fast_step(np.zeros((2, 1), np.float32), None) is None


def test_fast_step_out_is_checked_before_the_step(lstm_dense):
    s = lstm_dense.stream()
    x = np.ones((1, 1), np.float32)
    s.step(x)
    before = s.state
    assert s._fast_step(x, np.empty((1, 45), np.float32)) is None
    assert s._fast_step(x, np.empty((1, 46), np.float64)) is None
    for k, v in s.state.items():
        np.testing.assert_array_equal(v, before[k])
    out = np.empty((1, 46), np.float32)
    assert s._fast_step(x, out) is out


def test_stream_misused_from_threads_does_not_crash(lstm_dense):
    s = lstm_dense.stream()
    x = np.ones((1, 1), np.float32)

    def work():
        for _ in range(300):
            y = s.step(x)
            assert y.shape == (1, 46) and np.isfinite(y).all()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
