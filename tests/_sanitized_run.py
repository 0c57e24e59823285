"""Model-level checks for the sanitizer run (tests/reliability/test_sanitizers.py); no TensorFlow needed.

Not collected by a plain ``pytest`` (the name does not match ``test_*.py``): test_sanitizers.py
passes it explicitly to a pytest subprocess that imports an AddressSanitizer + UBSan build of
``pyrnn._core``. Everything here starts from the demo model shipped in pyrnn/data, so whole-model
paths (the loader, the native graph, streams, pickling, the CLI) run under the sanitizers too,
with odd shapes: an empty batch, one timestep, thousands of timesteps, every ISA tier and
thread count, and damaged files that must fail cleanly.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import zipfile

import h5py
import numpy as np
import oracle
import pytest
from conftest import assert_parity

import pyrnn
from pyrnn import cli

DATA = os.path.join(os.path.dirname(os.path.abspath(pyrnn.__file__)), "data")
DEMO = os.path.join(DATA, "demo_sunspots.keras")


def _demo_parts():
    with zipfile.ZipFile(DEMO) as z:
        return {n: z.read(n) for n in z.namelist()}


def _write_keras(path, parts):
    with zipfile.ZipFile(path, "w") as z:
        for n, data in parts.items():
            z.writestr(n, data)
    return str(path)


def _demo_weights():
    with h5py.File(io.BytesIO(_demo_parts()["model.weights.h5"]), "r") as f:
        lstm = [f[f"layers/lstm/cell/vars/{i}"][()] for i in range(3)]
        dense = [f[f"layers/dense/vars/{i}"][()] for i in range(2)]
    return lstm, dense


def _reference(x, return_sequences=False):
    """float64 oracle of the demo model: LSTM(32) -> Dense(1)."""
    (k, r, b), (dk, db) = _demo_weights()
    h = oracle.rnn("LSTM", x, k, r, b, return_sequences=return_sequences)
    return h @ dk.astype(np.float64) + db.astype(np.float64)


def _variant(tmp_path, name, *, steps=24, features=1, units=32, return_sequences=False):
    """The demo file with an edited config (e.g. any number of timesteps)."""
    parts = _demo_parts()
    cfg = json.loads(parts["config.json"])
    layers = cfg["config"]["layers"]
    layers[0]["config"]["batch_shape"] = [None, steps, features]
    layers[1]["config"]["units"] = units
    layers[1]["config"]["return_sequences"] = return_sequences
    parts["config.json"] = json.dumps(cfg).encode()
    return _write_keras(tmp_path / f"{name}.keras", parts)


@pytest.fixture(scope="module")
def demo():
    return pyrnn.load(DEMO)


@pytest.fixture(scope="module")
def demo_x():
    return np.load(os.path.join(DATA, "demo_inputs.npy"))


def test_demo_matches_saved_keras_outputs(isa, demo, demo_x):
    expected = np.load(os.path.join(DATA, "demo_keras_outputs.npy"))
    y = demo.predict(demo_x)
    assert_parity(y, expected)
    assert_parity(y, _reference(demo_x.astype(np.float64)))
    np.testing.assert_array_equal(demo.predict(demo_x, batch_size=7), y)
    np.testing.assert_array_equal(demo.predict(demo_x.astype(np.float64)), y)
    strided = np.repeat(demo_x, 2, axis=0)[::2]  # float32, not contiguous
    np.testing.assert_array_equal(demo.predict(strided), y)
    for b in (0, 1, 5, 87):
        np.testing.assert_array_equal(demo.predict(demo_x[b:b + 1])[0], y[b])


def test_empty_batch(isa, demo):
    assert demo.predict(np.zeros((0, 24, 1), np.float32)).shape == (0, 1)
    assert demo.predict(np.zeros((0, 24, 1), np.float32), batch_size=3).shape == (0, 1)


@pytest.mark.parametrize("steps", [1, 2, 3000])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_any_number_of_timesteps(isa, tmp_path, steps, return_sequences):
    model = pyrnn.load(_variant(tmp_path, "free_t", steps=None, return_sequences=return_sequences))
    for batch in (1, 3, 33) if steps < 1000 else (2,):
        x = np.random.default_rng(steps * 100 + batch).standard_normal((batch, steps, 1)).astype(np.float32)
        assert_parity(model.predict(x), _reference(x.astype(np.float64), return_sequences))
    want = (0, steps, 1) if return_sequences else (0, 1)
    assert model.predict(np.zeros((0, steps, 1), np.float32)).shape == want


def test_stream_in_pieces_matches_one_call(isa, tmp_path, demo_x):
    model = pyrnn.load(_variant(tmp_path, "free_t", steps=None))
    x = demo_x[:3]
    whole = model.predict(x)
    s = model.stream(batch_size=3)
    for t in range(10):
        s.step(x[:, t])
    s.feed(x[:, 10:11])
    last = s.feed(x[:, 11:])
    assert_parity(last[:, -1] if last.ndim == 3 else last, whole.astype(np.float64))
    state = s.state
    s.reset([1])
    s.state = state
    s.reset()
    first = s.step(x[:, 0])
    assert first.shape[0] == 3 and np.isfinite(first).all()


def test_threads_and_pickle(demo, demo_x):
    previous = pyrnn.get_num_threads()
    try:
        outs = []
        for n in (1, 2, 3, 8):
            pyrnn.set_num_threads(n)
            outs.append(demo.predict(demo_x))
    finally:
        pyrnn.set_num_threads(previous)
    for y in outs[1:]:
        np.testing.assert_array_equal(y, outs[0])
    clone = pickle.loads(pickle.dumps(demo))
    np.testing.assert_array_equal(clone.predict(demo_x), outs[0])


def test_cli_demo(capsys):
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "(OK)" in out, out


def test_cli_predict(tmp_path, demo_x, capsys):
    np.save(tmp_path / "x.npy", demo_x[:5])
    assert cli.main(["predict", DEMO, str(tmp_path / "x.npy"), "-o", str(tmp_path / "y.npy"), "--batch-size", "2"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), pyrnn.load(DEMO).predict(demo_x[:5]))


def test_wrong_inputs_are_errors(demo):
    for bad in (np.zeros((2, 23, 1)), np.zeros((2, 24, 2)), np.zeros((24, 1)), np.zeros((2, 24, 1), complex)):
        with pytest.raises((ValueError, TypeError)):
            demo.predict(bad)


@pytest.mark.filterwarnings("ignore")
def test_damaged_files_fail_cleanly(tmp_path):
    """Truncated files, flipped bytes in the weights and inconsistent configs: an exception or a
    result, never a crash or a sanitizer report."""
    raw = open(DEMO, "rb").read()
    rng = np.random.default_rng(0)
    files = []
    for i, cut in enumerate([0, 1, 30, len(raw) // 3, len(raw) // 2, len(raw) - 100, len(raw) - 1]):
        p = tmp_path / f"cut{i}.keras"
        p.write_bytes(raw[:cut])
        files.append(p)
    parts = _demo_parts()
    weights = parts["model.weights.h5"]
    for i in range(25):
        w = bytearray(weights)
        for pos in rng.integers(0, len(w), size=int(rng.integers(1, 16))):
            w[pos] = int(rng.integers(0, 256))
        files.append(_write_keras(tmp_path / f"flip{i}.keras", dict(parts, **{"model.weights.h5": bytes(w)})))
    files += [_variant(tmp_path, "units31", units=31), _variant(tmp_path, "units33", units=33),
              _variant(tmp_path, "feat2", features=2), _variant(tmp_path, "t0", steps=0),
              _write_keras(tmp_path / "noweights.keras", {k: v for k, v in parts.items() if k != "model.weights.h5"})]
    loaded = 0
    for f in files:
        try:
            m = pyrnn.load(f)
        except Exception:  # noqa: BLE001 - any clean Python exception is fine here
            continue
        loaded += 1
        try:
            shape = [1 if d is None else d for d in m.input_shape]
            shape[0] = 2
            m.predict(np.ones(shape, np.float32))
        except Exception:  # noqa: BLE001
            pass
    assert loaded < len(files)


@pytest.mark.parametrize("vnni", [True, False])
@pytest.mark.parametrize("compute_type", ["bfloat16", "float16", "int8"])
def test_reduced_compute_types_odd_sizes(isa, compute_type, vnni):
    """The reduced-precision kernels (16-bit panels, int8 panels with row quantization) on sizes
    that exercise every tile remainder: finite, batch-invariant and thread-invariant."""
    from pyrnn import _core

    ct = getattr(_core.ComputeType, compute_type)
    rng = np.random.default_rng(7)
    cases = [(_core.CellKind.lstm, 1, 1, True), (_core.CellKind.lstm, 33, 50, True), (_core.CellKind.gru, 17, 17, True),
             (_core.CellKind.gru, 5, 40, False), (_core.CellKind.simple_rnn, 3, 130, True),
             (_core.CellKind.lstm, 20, 160, True), (_core.CellKind.gru, 40, 144, False)]  # teams at batch 1
    if not vnni and not (compute_type == "int8" and _core.vnni_available()):
        pytest.skip("the same kernels as with vnni=True")
    previous = pyrnn.get_num_threads()
    _core._set_vnni(vnni)
    try:
        for kind, D, H, reset_after in cases:
            G = _core.gate_count(kind)
            W = rng.normal(0, 0.3, (D, G * H)).astype(np.float32)
            U = rng.normal(0, 0.3, (H, G * H)).astype(np.float32)
            bias_shape = (2, G * H) if kind == _core.CellKind.gru and reset_after else (G * H,)
            b = rng.normal(0, 0.1, bias_shape).astype(np.float32)
            layer = _core.RecurrentLayer(kind, _core.Act.tanh, _core.Act.sigmoid, reset_after, False, True, False, W, U,
                                         b, compute_type=ct)
            x = rng.normal(size=(41, 12, D)).astype(np.float32)  # AMX: blocks of 32 rows and the rest
            outs = []
            for n in (1, 2):
                pyrnn.set_num_threads(n)
                outs.append(layer.run(x, None, None, None)[0])
            assert np.isfinite(outs[0]).all()
            np.testing.assert_array_equal(outs[1], outs[0])
            for i in (0, 4, 8, 35, 40):
                np.testing.assert_array_equal(layer.run(x[i:i + 1], None, None, None)[0][0], outs[0][i])
                pyrnn.set_num_threads(1)
                np.testing.assert_array_equal(layer.run(x[i:i + 1], None, None, None)[0][0], outs[0][i])
                pyrnn.set_num_threads(2)
            assert layer.run(x[:0], None, None, None)[0].shape == (0, 12, H)
            if compute_type == "int8" and _core.amx_available():  # AMX tiles or not: the same bits
                _core._set_amx(False)
                np.testing.assert_array_equal(layer.run(x, None, None, None)[0], outs[0])
                _core._set_amx(True)
    finally:
        pyrnn.set_num_threads(previous)
        _core._set_vnni(True)
        _core._set_amx(True)
