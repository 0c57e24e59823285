"""pyrnn against the float64 numpy oracle, on every ISA tier (runs without TensorFlow)."""

from __future__ import annotations

import numpy as np
import oracle
import pytest
from conftest import GATES, assert_parity, make_mask, make_weights
from hypothesis import given, settings
from hypothesis import strategies as st

import pyrnn

KINDS = [("SimpleRNN", True), ("LSTM", True), ("GRU", True), ("GRU", False)]
KIND_IDS = ["simple", "lstm", "gru", "gru_v1"]


def build(kind, weights, reset_after=True, **opts):
    cls = getattr(pyrnn, kind)
    if kind == "GRU":
        opts["reset_after"] = reset_after
    return cls(*weights, **opts)


def oracle_opts(kind, reset_after, **opts):
    return dict(reset_after=reset_after, **opts)


@pytest.mark.parametrize("kind,reset_after", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("units", [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 257])
def test_units_sweep(isa, kind, reset_after, units):
    rng = np.random.default_rng(units)
    D, B, T = (1, 2, 30) if units > 100 else (5, 3, 25)
    w = make_weights(kind, D, units, rng, reset_after=reset_after)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    layer = build(kind, w, reset_after, return_sequences=True, return_state=True)
    ref = oracle.rnn(kind, x, *w, reset_after=reset_after, return_sequences=True, return_state=True)
    assert_parity(layer(x), ref)


@pytest.mark.parametrize("kind,reset_after", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("mask_kind", [None, "right", "left", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_options(isa, kind, reset_after, mask_kind, go_backwards, return_sequences, with_state):
    rng = np.random.default_rng(7)
    D, H, B, T = 4, 19, 5, 13
    w = make_weights(kind, D, H, rng, reset_after=reset_after)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    mask = make_mask(mask_kind, B, T, rng)
    init = None
    if with_state:
        init = [rng.normal(size=(B, H)).astype(np.float32) for _ in range(2 if kind == "LSTM" else 1)]
    opts = dict(return_sequences=return_sequences, return_state=True, go_backwards=go_backwards)
    layer = build(kind, w, reset_after, **opts)
    ref = oracle.rnn(kind, x, *w, reset_after=reset_after, mask=mask, initial_state=init, **opts)
    assert_parity(layer(x, initial_state=init, mask=mask), ref)


@pytest.mark.parametrize("kind,reset_after", KINDS, ids=KIND_IDS)
def test_no_bias_and_zero_output_for_mask(isa, kind, reset_after):
    rng = np.random.default_rng(3)
    w = make_weights(kind, 3, 10, rng, reset_after=reset_after, use_bias=False)
    x = rng.normal(size=(4, 9, 3)).astype(np.float32)
    mask = make_mask("holes", 4, 9, rng)
    opts = dict(return_sequences=True, return_state=True, zero_output_for_mask=True)
    layer = build(kind, w[:2] + [None], reset_after, **opts)
    ref = oracle.rnn(kind, x, *w, None, reset_after=reset_after, mask=mask, **opts)
    assert_parity(layer(x, mask=mask), ref)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_bidirectional(isa, kind, merge_mode, return_sequences):
    rng = np.random.default_rng(11)
    D, H, B, T = 3, 17, 4, 11
    wf = make_weights(kind, D, H, rng)
    wb = make_weights(kind, D, H, rng)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    mask = make_mask("holes", B, T, rng)
    n = 2 if kind == "LSTM" else 1
    init = [rng.normal(size=(B, H)).astype(np.float32) for _ in range(2 * n)]
    cls = getattr(pyrnn, kind)
    opts = dict(return_sequences=return_sequences, return_state=True)
    bi = pyrnn.Bidirectional(cls(*wf, **opts), cls(*wb, go_backwards=True, **opts), merge_mode=merge_mode)
    ref = oracle.bidirectional(kind, x, wf, wb, merge_mode=merge_mode, return_sequences=return_sequences,
                               return_state=True, initial_state=init, mask=mask)
    assert_parity(bi(x, initial_state=init, mask=mask), ref)


@pytest.mark.parametrize("name", sorted(set(oracle.ACTIVATIONS) - {"hard_sigmoid_keras2"}))
def test_every_activation_in_a_cell(isa, name):
    rng = np.random.default_rng(5)
    for kind in GATES:
        w = make_weights(kind, 3, 12, rng, rec_scale=0.5)
        steps = 3 if name == "exponential" else 8  # e^x feeds back into itself: keep it finite
        x = rng.normal(size=(3, steps, 3)).astype(np.float32)
        opts = dict(return_sequences=True, return_state=True, activation=name)
        if kind != "SimpleRNN":
            gate_like = ("hard_sigmoid", "sigmoid", "softmax", "sparsemax")
            opts["recurrent_activation"] = name if name in gate_like else "sigmoid"
        layer = getattr(pyrnn, kind)(*w, **opts)
        ref = oracle.rnn(kind, x, *w, **opts)
        assert_parity(layer(x), ref)


def test_keras2_hard_sigmoid(isa):
    rng = np.random.default_rng(2)
    w = make_weights("LSTM", 3, 9, rng)
    x = rng.normal(size=(2, 10, 3)).astype(np.float32) * 3
    k2 = pyrnn.LSTM(*w, recurrent_activation="hard_sigmoid", keras_version=2)
    k3 = pyrnn.LSTM(*w, recurrent_activation="hard_sigmoid")
    assert_parity(k2(x), oracle.rnn("LSTM", x, *w, recurrent_activation="hard_sigmoid", keras_version=2))
    assert_parity(k3(x), oracle.rnn("LSTM", x, *w, recurrent_activation="hard_sigmoid", keras_version=3))
    assert np.max(np.abs(k2(x) - k3(x))) > 1e-3  # the two definitions really differ


@settings(max_examples=40, deadline=None)
@given(
    kind=st.sampled_from(KINDS),
    B=st.integers(1, 9),
    T=st.integers(1, 40),
    D=st.integers(1, 40),
    H=st.integers(1, 40),
    go_backwards=st.booleans(),
    masked=st.booleans(),
    seed=st.integers(0, 2**31 - 1),
)
def test_random_shapes(kind, B, T, D, H, go_backwards, masked, seed):
    kind, reset_after = kind
    rng = np.random.default_rng(seed)
    w = make_weights(kind, D, H, rng, reset_after=reset_after)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    mask = rng.random((B, T)) > 0.3 if masked else None
    opts = dict(return_sequences=True, return_state=True, go_backwards=go_backwards)
    layer = build(kind, w, reset_after, **opts)
    assert_parity(layer(x, mask=mask), oracle.rnn(kind, x, *w, reset_after=reset_after, mask=mask, **opts))


def test_long_sequence_large_batch(isa):
    rng = np.random.default_rng(9)
    w = make_weights("LSTM", 100, 64, rng)
    x = rng.normal(size=(64, 200, 100)).astype(np.float32)
    layer = pyrnn.LSTM(*w, return_sequences=True)
    assert_parity(layer(x), oracle.rnn("LSTM", x, *w, return_sequences=True))


def test_strided_and_float64_inputs(isa):
    rng = np.random.default_rng(4)
    w = make_weights("GRU", 6, 10, rng)
    base = rng.normal(size=(8, 30, 12))
    x = base[::2, ::3, ::2]  # float64, non-contiguous
    layer = pyrnn.GRU(*w, return_sequences=True)
    ref = oracle.rnn("GRU", x.astype(np.float32), *w, return_sequences=True)
    out = layer(x)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert_parity(out, ref)
    init = [np.asfortranarray(rng.normal(size=(4, 10)))]
    assert_parity(layer(x, initial_state=init),
                  oracle.rnn("GRU", x.astype(np.float32), *w, return_sequences=True, initial_state=init))


@pytest.mark.parametrize("features", [5, 40])
def test_batch_invariance(isa, features):
    """A row's output never depends on the other rows of the batch. With 40 features an
    LSTM runs blocks of 4 rows and more stacked (one GEMM on [1, x_t, h]) and fewer rows
    with the inputs projected ahead: the same FMA chain, so the same bits."""
    rng = np.random.default_rng(8)
    w = make_weights("LSTM", features, 33, rng)
    x = rng.normal(size=(13, 17, features)).astype(np.float32)
    mask = rng.random((13, 17)) > 0.25
    h0, c0 = rng.normal(size=(2, 13, 33)).astype(np.float32)
    for opts in ({}, {"go_backwards": True}):
        layer = pyrnn.LSTM(*w, return_sequences=True, **opts)
        full = layer(x)
        full_m = layer(x, mask=mask, initial_state=[h0, c0])
        for b in range(13):
            np.testing.assert_array_equal(layer(x[b:b + 1])[0], full[b])
            got = layer(x[b:b + 1], mask=mask[b:b + 1], initial_state=[h0[b:b + 1], c0[b:b + 1]])
            np.testing.assert_array_equal(got[0], full_m[b])
        for pair in (slice(0, 2), slice(3, 6)):  # 2 rows: projected ahead; 3 rows: also
            np.testing.assert_array_equal(layer(x[pair]), full[pair])
        ref = oracle.rnn("LSTM", x, *w, return_sequences=True, mask=mask, initial_state=[h0, c0], **opts)
        assert_parity(full_m, ref)


def test_empty_batch():
    w = make_weights("LSTM", 3, 4, np.random.default_rng(0))
    layer = pyrnn.LSTM(*w, return_sequences=True, return_state=True)
    y, h, c = layer(np.zeros((0, 5, 3), np.float32))
    assert y.shape == (0, 5, 4) and h.shape == (0, 4) and c.shape == (0, 4)
    bi = pyrnn.Bidirectional(pyrnn.LSTM(*w), pyrnn.LSTM(*w, go_backwards=True))
    assert bi(np.zeros((0, 5, 3))).shape == (0, 8)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_nan_and_inf_propagate(isa):
    w = make_weights("LSTM", 2, 5, np.random.default_rng(1))
    x = np.zeros((3, 4, 2), np.float32)
    x[0, 1, 0] = np.nan
    x[1, 2, 1] = np.inf
    layer = pyrnn.LSTM(*w, return_sequences=True)
    y = layer(x)
    ref = oracle.rnn("LSTM", x, *w, return_sequences=True)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    assert np.isnan(y[0, 1:]).all() and not np.isnan(y[0, 0]).any()
    assert_parity(y[2], ref[2])
