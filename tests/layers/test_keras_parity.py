"""pyrnn against TensorFlow/Keras 3 itself, over cells x options x shapes, on every ISA tier.

Each case computes the Keras reference once, then checks every tier against it and
against the float64 oracle (a second, independent witness).
"""

from __future__ import annotations

import numpy as np
import oracle
import pytest
from conftest import assert_parity, each_tier, make_mask, make_weights

import pyrnn

keras_ref = pytest.importorskip("keras_ref")

KINDS = [("SimpleRNN", True), ("LSTM", True), ("GRU", True), ("GRU", False)]
KIND_IDS = ["simple", "lstm", "gru", "gru_v1"]

WORST: dict = {}


def check(kind, got_fn, ref):
    for _tier in each_tier():
        err = assert_parity(got_fn(), ref)
        WORST[kind] = max(WORST.get(kind, 0.0), err)


def case(kind, reset_after, D, H, B, T, *, seed, mask_kind=None, with_state=False, use_bias=True, **opts):
    rng = np.random.default_rng(seed)
    w = make_weights(kind, D, H, rng, reset_after=reset_after, use_bias=use_bias)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    mask = make_mask(mask_kind, B, T, rng)
    init = None
    if with_state:
        init = [rng.normal(size=(B, H)).astype(np.float32) for _ in range(2 if kind == "LSTM" else 1)]
    kopts = dict(opts)
    if kind == "GRU":
        kopts["reset_after"] = reset_after
    layer = keras_ref.build_layer(kind, D, w, **kopts)
    ref = keras_ref.run(layer, x, init, mask)
    ours = pyrnn.__dict__[kind].from_keras(layer)
    check(kind, lambda: ours(x, initial_state=init, mask=mask), ref)
    # The oracle agrees with Keras too (so the oracle tests mean something).
    orc = oracle.rnn(kind, x, *w, **({"reset_after": reset_after} | opts), initial_state=init, mask=mask)
    assert_parity([np.float32(o) for o in orc] if isinstance(orc, list) else np.float32(orc), ref)


UNITS = [1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 64, 100, 257]
WIDTHS = [1, 3, 13, 100]


@pytest.mark.parametrize("kind,reset_after", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("units", UNITS)
def test_units_and_widths(kind, reset_after, units):
    D = WIDTHS[units % len(WIDTHS)]
    B, T = (2, 40) if units > 64 else (3, 60)
    case(kind, reset_after, D, units, B, T, seed=units, return_sequences=True, return_state=True)


@pytest.mark.parametrize("kind,reset_after", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("B,T,D", [(1, 1, 1), (1, 200, 1), (64, 50, 8), (5, 120, 33)])
def test_batch_and_length(kind, reset_after, B, T, D):
    case(kind, reset_after, D, 24, B, T, seed=B * T, return_sequences=True, return_state=True)


@pytest.mark.parametrize("kind,reset_after", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("mask_kind", [None, "right", "left", "holes"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_masks_states_direction(kind, reset_after, mask_kind, go_backwards, with_state):
    case(kind, reset_after, 5, 12, 6, 15, seed=3, mask_kind=mask_kind, with_state=with_state,
         go_backwards=go_backwards, return_sequences=True, return_state=True)


@pytest.mark.parametrize("kind,reset_after", KINDS, ids=KIND_IDS)
@pytest.mark.parametrize("mask_kind", [None, "holes"])
@pytest.mark.parametrize("return_state", [False, True])
def test_last_output(kind, reset_after, mask_kind, return_state):
    case(kind, reset_after, 4, 10, 5, 12, seed=4, mask_kind=mask_kind, with_state=True,
         return_sequences=False, return_state=return_state)


@pytest.mark.parametrize("kind,reset_after", KINDS, ids=KIND_IDS)
def test_no_bias(kind, reset_after):
    case(kind, reset_after, 4, 10, 3, 12, seed=5, use_bias=False, mask_kind="holes", return_sequences=True,
         return_state=True)


# Recurrent weights larger than one core's L2 (2.5-2.8 MB here; L2s are 0.5-2 MiB): the
# weights-outer GEMM, units split across threads, and for LSTM the stacked [1, x, h]
# step whatever the input width; with masks, states and go_backwards.
@pytest.mark.parametrize("kind,reset_after,D,H", [("LSTM", True, 33, 400), ("GRU", True, 3, 480),
                                                  ("GRU", False, 20, 480)], ids=["lstm", "gru", "gru_v1"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_weights_beyond_l2(kind, reset_after, D, H, go_backwards):
    case(kind, reset_after, D, H, 9, 7, seed=11, mask_kind="holes", with_state=True, go_backwards=go_backwards,
         return_sequences=True, return_state=True)


BOUNDED = {"sigmoid", "hard_sigmoid", "sparse_sigmoid", "softmax", "sparsemax", "tanh", "softsign", "hard_tanh"}
ACTS = sorted(set(oracle.ACTIVATIONS) - {"hard_sigmoid_keras2"})


@pytest.mark.parametrize("name", ACTS)
def test_activation(name):
    T = 1 if name == "exponential" else 10  # e^x fed back into itself explodes after a step or two
    case("SimpleRNN", True, 3, 9, 2, T, seed=6, activation=name, return_sequences=True)
    # In LSTM the activation also acts on the unbounded cell state c: keep T short so
    # activations such as log_softmax (|c| grows by ~log(units) per step) stay well conditioned.
    case("LSTM", True, 3, 9, 2, min(T, 4), seed=7, activation=name, return_sequences=True)
    # An unbounded recurrent activation makes the GRU state explode (1e37 here): chaos, not parity.
    rec = name if name in BOUNDED else "sigmoid"
    case("GRU", True, 3, 9, 2, min(T, 4), seed=8, recurrent_activation=rec, activation=name, return_sequences=True)
    case("LSTM", True, 3, 9, 2, T, seed=9, recurrent_activation=rec, return_sequences=True)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_bidirectional(kind, merge_mode, return_sequences, masked):
    rng = np.random.default_rng(12)
    D, H, B, T = 6, 13, 4, 14
    wf, wb = make_weights(kind, D, H, rng), make_weights(kind, D, H, rng)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    mask = make_mask("holes", B, T, rng) if masked else None
    n = 2 if kind == "LSTM" else 1
    init = [rng.normal(size=(B, H)).astype(np.float32) for _ in range(2 * n)]
    layer = keras_ref.build_bidirectional(kind, D, wf, wb, merge_mode, return_sequences=return_sequences,
                                          return_state=True)
    ref = keras_ref.run(layer, x, init, mask)
    ours = pyrnn.Bidirectional.from_keras(layer)
    check("Bidirectional", lambda: ours(x, initial_state=init, mask=mask), ref)


def test_worst_errors_report():
    """Prints the worst error seen per cell (for the closing note); runs last in this file."""
    print("\nworst relative error vs Keras:", {k: f"{v:.2e}" for k, v in sorted(WORST.items())})
