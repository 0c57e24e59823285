"""Shared fixtures: ISA tiers, tolerances, random Keras-layout weights."""

from __future__ import annotations

import os
import sys

# Reference numbers come from TensorFlow on the CPU (a GPU would use TF32 matmuls).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "-1")

sys.path.insert(0, os.path.dirname(__file__))  # oracle.py and helpers, with --import-mode=importlib

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from pyrnn import _core  # noqa: E402

TIERS = list(_core.supported_isas())
TOL = 1e-5  # the parity contract: max|a-b| / max(1, max|b|)

GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def rel_err(got, ref) -> float:
    got = np.asarray(got, np.float64)
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, f"shape {got.shape} != reference {ref.shape}"
    if got.size == 0:
        return 0.0
    return float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))


def assert_parity(got, ref, tol: float = TOL) -> float:
    """Same structure as Keras (array or list of arrays) and within tolerance; returns the error."""
    if isinstance(ref, (list, tuple)):
        assert isinstance(got, list), f"expected a list of {len(ref)} arrays, got {type(got).__name__}"
        assert len(got) == len(ref), f"expected {len(ref)} outputs, got {len(got)}"
        errs = [assert_parity(g, r, tol) for g, r in zip(got, ref)]
        return max(errs)
    assert isinstance(got, np.ndarray) and got.dtype == np.float32, f"expected a float32 array, got {type(got)}"
    err = rel_err(got, ref)
    assert err <= tol, f"relative error {err:.3g} > {tol:g}"
    return err


def keras_module(which):
    """Keras 3 (`3` or "k3") or tf-keras 2 (`2` or "k2"), skipping the test when TensorFlow or that Keras is
    not installed. Test modules that also run without TensorFlow call this instead of importing Keras."""
    pytest.importorskip("tensorflow")
    return pytest.importorskip("tf_keras" if which in (2, "k2") else "keras")


def save_model(model, path) -> str:
    """model.save(path) without Keras's format advice warnings; returns the path as a string."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.save(str(path))
    return str(path)


def make_weights(kind, input_dim, units, rng, *, reset_after=True, use_bias=True, rec_scale=None):
    """Random weights in Keras layout. SimpleRNN gets a contractive recurrent kernel
    (keras-semantics.md §7.3: expansive dynamics amplify ulp noise for everyone)."""
    G = GATES[kind]
    a = np.sqrt(6.0 / (input_dim + G * units))
    kernel = rng.uniform(-a, a, size=(input_dim, G * units))
    if rec_scale is None:
        rec_scale = 0.6 if kind == "SimpleRNN" else 1.0
    rec = rng.normal(size=(units, G * units)) * (rec_scale / np.sqrt(units))
    weights = [kernel.astype(np.float32), rec.astype(np.float32)]
    if use_bias:
        shape = (2, G * units) if (kind == "GRU" and reset_after) else (G * units,)
        weights.append(rng.uniform(-0.5, 0.5, size=shape).astype(np.float32))
    return weights


def make_mask(kind, batch, steps, rng):
    """Mask patterns Keras handles on CPU: right/left padding, holes, fully masked rows."""
    if kind is None:
        return None
    m = np.ones((batch, steps), bool)
    lengths = rng.integers(0, steps + 1, size=batch)
    if kind == "right":
        m = np.arange(steps)[None, :] < np.maximum(lengths, 1)[:, None]
    elif kind == "left":
        m = np.arange(steps)[None, :] >= (steps - np.maximum(lengths, 1))[:, None]
    elif kind == "holes":
        m = rng.random((batch, steps)) > 0.35
        m[0, :] = False  # a fully masked row
        if batch > 1:
            m[1, :] = True
    else:
        raise ValueError(kind)
    return m


@pytest.fixture(params=TIERS)
def isa(request):
    """Run the test body with each ISA tier this CPU supports."""
    previous = _core.current_isa()
    _core.set_isa(request.param)
    yield request.param
    _core.set_isa(previous)


def each_tier():
    """Iterate over the tiers inside one test (when the reference is expensive)."""
    previous = _core.current_isa()
    try:
        for tier in TIERS:
            _core.set_isa(tier)
            yield tier
    finally:
        _core.set_isa(previous)
