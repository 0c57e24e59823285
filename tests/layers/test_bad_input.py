"""Bad input gets a clear ValueError/TypeError naming the layer, what was expected and what was given."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_weights

import pyrnn


@pytest.fixture
def lstm():
    return pyrnn.LSTM(*make_weights("LSTM", 3, 4, np.random.default_rng(0)), name="enc", return_state=True)


def test_wrong_rank(lstm):
    with pytest.raises(ValueError, match=r"LSTM 'enc': expected input of shape \(batch, time, 3\), got shape \(5, 3\)"):
        lstm(np.zeros((5, 3)))


def test_wrong_feature_count(lstm):
    with pytest.raises(ValueError, match=r"LSTM 'enc': expected 3 input features .* got shape \(2, 5, 4\)"):
        lstm(np.zeros((2, 5, 4)))


def test_zero_timesteps(lstm):
    with pytest.raises(ValueError, match="at least one timestep"):
        lstm(np.zeros((2, 0, 3)))


@pytest.mark.parametrize("bad", [np.array([["a", "b", "c"]] * 2, dtype=object).reshape(1, 2, 3),
                                 np.zeros((1, 2, 3), complex), np.array(["x"] * 6).reshape(1, 2, 3)])
def test_non_numeric(lstm, bad):
    with pytest.raises(TypeError, match=r"LSTM 'enc': input must be a real numeric array, got dtype"):
        lstm(bad)


def test_ragged_list(lstm):
    with pytest.raises(TypeError, match="input must be a numeric array"):
        lstm([[[1, 2, 3]], [[1, 2]]])


def test_wrong_number_of_states(lstm):
    x = np.zeros((2, 5, 3))
    with pytest.raises(ValueError, match=r"expected 2 initial state\(s\) \[h, c\], got 1"):
        lstm(x, initial_state=[np.zeros((2, 4))])


def test_wrong_state_shape(lstm):
    x = np.zeros((2, 5, 3))
    with pytest.raises(ValueError, match=r"initial state c must have shape \(batch, units\) = \(2, 4\), got \(2, 5\)"):
        lstm(x, initial_state=[np.zeros((2, 4)), np.zeros((2, 5))])


def test_mask_shape_and_dtype(lstm):
    x = np.zeros((2, 5, 3))
    with pytest.raises(ValueError, match=r"mask must have shape \(batch, time\) = \(2, 5\) .* got \(2, 4\)"):
        lstm(x, mask=np.ones((2, 4), bool))
    with pytest.raises(TypeError, match="mask must be a boolean"):
        lstm(x, mask=np.ones((2, 5), np.float32))


def test_weight_shapes_are_checked():
    rng = np.random.default_rng(0)
    k, r, b = make_weights("LSTM", 3, 4, rng)
    with pytest.raises(ValueError,
                       match=r"LSTM 'lstm': recurrent_kernel must have shape \(units, 4\*units\), got \(4, 12\)"):
        pyrnn.LSTM(k, r[:, :12], b)
    with pytest.raises(ValueError, match=r"kernel must have shape \(input_dim, 16\) for units=4, got \(3, 12\)"):
        pyrnn.LSTM(k[:, :12], r, b)
    with pytest.raises(ValueError, match=r"bias must have shape \(16,\), got \(15,\)"):
        pyrnn.LSTM(k, r, b[:15])
    gk, gr, gb = make_weights("GRU", 3, 4, rng, reset_after=True)
    with pytest.raises(ValueError,
                       match=r"bias must have shape \(12,\), got \(2, 12\).*reset_after=True has a \(2, 3\*units\)"):
        pyrnn.GRU(gk, gr, gb, reset_after=False)


def test_unknown_activation_lists_supported():
    w = make_weights("SimpleRNN", 2, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"unknown activation 'tanhh'; supported: .*sigmoid.*tanh"):
        pyrnn.SimpleRNN(*w, activation="tanhh")
    with pytest.raises(ValueError, match="cannot be used in a recurrent layer"):
        pyrnn.SimpleRNN(*w, activation="glu")
    with pytest.raises(TypeError, match="activation must be a Keras activation name"):
        pyrnn.SimpleRNN(*w, activation=np.tanh)


def test_bidirectional_construction_errors():
    w = make_weights("GRU", 2, 3, np.random.default_rng(0))
    lw = make_weights("LSTM", 2, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="same kind of layer, got GRU and LSTM"):
        pyrnn.Bidirectional(pyrnn.GRU(*w), pyrnn.LSTM(*lw, go_backwards=True))
    with pytest.raises(ValueError, match="different go_backwards values"):
        pyrnn.Bidirectional(pyrnn.GRU(*w), pyrnn.GRU(*w))
    with pytest.raises(ValueError, match="unknown merge_mode 'max'"):
        pyrnn.Bidirectional(pyrnn.GRU(*w), pyrnn.GRU(*w, go_backwards=True), merge_mode="max")
    with pytest.raises(TypeError, match="must be a pyrnn SimpleRNN, LSTM or GRU"):
        pyrnn.Bidirectional("gru", pyrnn.GRU(*w))
    bi = pyrnn.Bidirectional(pyrnn.GRU(*w), pyrnn.GRU(*w, go_backwards=True))
    with pytest.raises(ValueError, match=r"expected 2 initial states"):
        bi(np.zeros((1, 4, 2)), initial_state=[np.zeros((1, 3))])


def test_private_core_rejects_inconsistent_sizes():
    """The native layer checks sizes itself, so even misuse of _core cannot crash."""
    from pyrnn import _core

    k, r, b = make_weights("LSTM", 3, 4, np.random.default_rng(0))
    lstm, tanh, sigmoid = _core.CellKind.lstm, _core.Act.tanh, _core.Act.sigmoid
    with pytest.raises(ValueError):
        _core.RecurrentLayer(lstm, tanh, sigmoid, True, False, False, False, k[:, :5], r, b)
    layer = _core.RecurrentLayer(lstm, tanh, sigmoid, True, False, False, False, k, r, b)
    with pytest.raises(ValueError):
        layer.run(np.zeros((2, 3, 5), np.float32))
    with pytest.raises(ValueError):
        layer.run(np.zeros((2, 3, 3), np.float32), np.ones((2, 2), np.uint8))
    with pytest.raises(ValueError):
        layer.run(np.zeros((2, 3, 3), np.float32), None, np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError):  # codes are enum members; a bare int is refused
        _core.RecurrentLayer(lstm, 99, sigmoid, True, False, False, False, k, r, b)
