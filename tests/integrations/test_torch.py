"""pyrnn.from_torch: torch.nn.LSTM / GRU / RNN against PyTorch itself and the float64 oracle.

Skipped where torch is not installed (``.ci/run`` installs ``torch==2.13.0``; the nox
sessions have no torch).
"""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import oracle
import pytest
from conftest import TOL, rel_err

import pyrnn

torch = pytest.importorskip("torch")
nn = torch.nn

# (kind, num_layers, bidirectional, batch_first, bias, nonlinearity, hidden): a small grid that still
# covers every option once in each kind, with one hidden size past a vector tile per kind.
GRID = [
    ("LSTM", 1, False, True, True, None, 8),
    ("LSTM", 1, False, False, True, None, 33),
    ("LSTM", 2, False, True, False, None, 8),
    ("LSTM", 1, True, True, True, None, 8),
    ("LSTM", 2, True, False, True, None, 17),
    ("LSTM", 3, True, True, False, None, 5),
    ("GRU", 1, False, True, True, None, 8),
    ("GRU", 1, False, False, True, None, 33),
    ("GRU", 2, False, True, False, None, 8),
    ("GRU", 1, True, True, True, None, 8),
    ("GRU", 2, True, False, True, None, 17),
    ("GRU", 3, True, True, False, None, 5),
    ("RNN", 1, False, True, True, "tanh", 8),
    ("RNN", 1, False, False, True, "relu", 33),
    ("RNN", 2, False, True, False, "tanh", 8),
    ("RNN", 1, True, True, True, "relu", 8),
    ("RNN", 2, True, False, True, "tanh", 17),
    ("RNN", 3, True, True, False, "relu", 5),
]
IDS = [f"{k}-L{n}{'-bi' if b else ''}-{'bf' if f else 'tm'}{'' if bias else '-nobias'}{'-' + a if a else ''}-H{h}"
       for k, n, b, f, bias, a, h in GRID]

D, N, T = 3, 4, 11
MAX_ERR = {"value": 0.0}  # the largest parity error seen, reported at the end


def make(kind, layers, bi, batch_first, bias, act, hidden, seed=0):
    torch.manual_seed(seed)
    kw = dict(num_layers=layers, bidirectional=bi, batch_first=batch_first, bias=bias)
    if kind == "RNN":
        kw["nonlinearity"] = act
    module = getattr(nn, kind)(D, hidden, **kw)
    with torch.no_grad():  # non-zero biases everywhere, so both bias vectors matter
        for name, p in module.named_parameters():
            if name.startswith("bias"):
                p.uniform_(-0.5, 0.5)
    return module.eval()


def inputs(batch_first, seed=1):
    x = np.random.default_rng(seed).standard_normal((N, T, D)).astype(np.float32)
    return x if batch_first else np.ascontiguousarray(x.transpose(1, 0, 2))


def check(got, ref):
    err = rel_err(got, ref)
    MAX_ERR["value"] = max(MAX_ERR["value"], err)
    assert err <= TOL, f"relative error {err:.3g} > {TOL:g}"
    return err


@pytest.mark.parametrize("case", GRID, ids=IDS)
def test_parity_with_torch(case):
    module = make(*case)
    x = inputs(case[3])
    with torch.no_grad():
        y_ref, st_ref = module(torch.from_numpy(x))
    model = pyrnn.from_torch(module, return_state=True)
    y, st = model.predict(x)
    check(y, y_ref.numpy())
    if case[0] == "LSTM":
        check(st[0], st_ref[0].numpy())
        check(st[1], st_ref[1].numpy())
    else:
        check(st, st_ref.numpy())
    # Without return_state: the output alone, the same bits.
    np.testing.assert_array_equal(pyrnn.from_torch(module).predict(x), y)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("bias", [True, False])
def test_oracle_agrees_with_torch_and_pyrnn(kind, bias):
    """The gate and bias mapping, written out independently of pyrnn: torch in float64
    equals the Keras-equation oracle on the mapped weights, and pyrnn equals both."""
    H = 9
    module = make(kind, 1, False, True, bias, "tanh", H).double()
    x = inputs(True).astype(np.float64)
    p = {k: v.detach().numpy() for k, v in module.named_parameters()}
    order = [1, 0, 2] if kind == "GRU" else list(range(4 if kind == "LSTM" else 1))

    def gates(a):  # torch's gate blocks (GRU: r, z, n) in Keras's order (z, r, h)
        return np.concatenate([a[g * H:(g + 1) * H] for g in order])

    W, U = gates(p["weight_ih_l0"]).T, gates(p["weight_hh_l0"]).T
    b = None
    if bias:
        bi, bh = gates(p["bias_ih_l0"]), gates(p["bias_hh_l0"])
        b = np.stack([bi, bh]) if kind == "GRU" else bi + bh
    keras_kind = {"RNN": "SimpleRNN"}.get(kind, kind)
    ref = oracle.rnn(keras_kind, x, W, U, b, reset_after=True, return_sequences=True)
    with torch.no_grad():
        y_torch = module(torch.from_numpy(x))[0].numpy()
    assert np.max(np.abs(y_torch - ref)) < 1e-12
    check(pyrnn.from_torch(module).predict(x.astype(np.float32)), ref)


def test_layouts_tensors_and_unbatched_input():
    module = make("LSTM", 2, True, False, True, None, 6)
    model = pyrnn.from_torch(module, return_state=True)
    x = torch.from_numpy(inputs(False)).requires_grad_()  # a tensor that needs grad is fine
    with torch.no_grad():
        y_ref, (h_ref, c_ref) = module(x)
    y, (h, c) = model.predict(x)
    assert y.shape == (T, N, 12) and h.shape == c.shape == (4, N, 6)
    check(y, y_ref.numpy())
    check(c, c_ref.numpy())
    # Unbatched (time, features) input, as torch accepts it.
    x1 = x[:, 0].detach()
    with torch.no_grad():
        y1_ref, (h1_ref, _) = module(x1)
    y1, (h1, c1) = model.predict(x1.numpy())
    assert y1.shape == (T, 12) and h1.shape == c1.shape == (4, 6)
    check(y1, y1_ref.numpy())
    check(h1, h1_ref.numpy())


def test_dropout_is_ignored_and_double_modules_convert():
    module = nn.GRU(D, 7, num_layers=2, dropout=0.5, batch_first=True).double().eval()
    x = inputs(True)
    with torch.no_grad():
        ref = module(torch.from_numpy(x).double())[0].numpy()
    check(pyrnn.from_torch(module).predict(x), ref)


def test_out_pickle_profile_and_summary():
    module = make("GRU", 2, False, True, True, None, 8)
    model = pyrnn.from_torch(module)
    x = inputs(True)
    y = model.predict(x)
    out = np.empty_like(y)
    assert model.predict(x, out=out) is out
    np.testing.assert_array_equal(out, y)
    again = pickle.loads(pickle.dumps(model))
    assert isinstance(again, pyrnn.TorchModel)
    np.testing.assert_array_equal(again.predict(x), y)
    prof = model.profile(x, repeats=3)
    assert {r.layer for r in prof.rows} >= {"gru_l0", "gru_l1"}
    assert "torch.nn.GRU" in repr(model)
    lines: list = []
    model.summary(print_fn=lines.append)
    assert "GRU" in lines[0] and "Keras" not in lines[0], lines[0]
    with pytest.raises(ValueError, match="out= is supported for batch_first=True"):
        pyrnn.from_torch(module, return_state=True).predict(x, out=out)


def test_streaming_a_unidirectional_module():
    module = make("LSTM", 2, False, True, True, None, 8)
    x = inputs(True)
    full = pyrnn.from_torch(module).predict(x)
    stream = pyrnn.from_torch(module).stream(batch_size=N)
    steps = np.stack([stream.step(x[:, t]) for t in range(T)], axis=1)
    check(steps, full)


def test_bad_modules_and_inputs_are_named():
    with pytest.raises(TypeError, match=r"torch\.nn\.LSTM, torch\.nn\.GRU or torch\.nn\.RNN.*Linear"):
        pyrnn.from_torch(nn.Linear(3, 4))
    with pytest.raises(TypeError, match="got builtins.str"):
        pyrnn.from_torch("lstm.pt")
    with pytest.raises(pyrnn.UnsupportedLayerError, match="proj_size=2"):
        pyrnn.from_torch(nn.LSTM(3, 4, proj_size=2))
    model = pyrnn.from_torch(nn.LSTM(3, 4))
    with pytest.raises(ValueError, match=r"\(time, batch, features\).*input_size = 3, got shape \(2, 5, 4\)"):
        model.predict(np.zeros((2, 5, 4), np.float32))
    with pytest.raises(ValueError, match=r"at least one timestep, got shape \(0, 2, 3\)"):
        model.predict(np.zeros((0, 2, 3), np.float32))
    with pytest.raises(TypeError, match="numeric"):
        model.predict(np.array([["a"]]))


def test_importing_pyrnn_does_not_import_torch(tmp_path):
    code = "import sys, pyrnn; assert 'torch' not in sys.modules; print('ok')"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_report_max_error():
    """Prints the largest parity error the tests above measured (run with -s to see it)."""
    print(f"\nfrom_torch: max relative parity error {MAX_ERR['value']:.3g}")



@pytest.mark.parametrize("ctype", ["bfloat16", "int8"])
def test_compute_type(ctype):
    """A reduced compute type reaches every converted layer (stacked, Bidirectional) and
    survives pickling; bfloat16 matches the oracle with rounded weights."""
    module = make("GRU", 2, True, True, True, None, 17)
    model = pyrnn.from_torch(module, compute_type=ctype)
    assert model.compute_type == ctype and f"compute_type {ctype!r}" in repr(model)
    x = inputs(True)
    y = model.predict(x)
    assert 1e-4 < rel_err(y, pyrnn.from_torch(module).predict(x)) < 5e-2
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(model)).predict(x), y)
    if ctype == "bfloat16":
        single = pyrnn.from_torch(make("LSTM", 1, False, True, True, None, 33), compute_type=ctype)
        weights = [w for _, w in single._source.weights["lstm_l0"]]
        ref = oracle.rnn("LSTM", x, *weights, return_sequences=True, compute_type=ctype)
        assert rel_err(single.predict(x), ref) <= TOL
