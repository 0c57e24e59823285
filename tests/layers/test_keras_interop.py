"""from_keras with Keras 3 and tf-keras 2 objects: layers, models, dialect differences."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import assert_parity, make_weights

import pyrnn

keras_ref = pytest.importorskip("keras_ref")
keras = keras_ref.keras


def test_from_sequential_model_with_one_lstm():
    model = keras.Sequential([keras.Input((7, 2)), keras.layers.Dropout(0.5),
                              keras.layers.LSTM(5, return_sequences=True)])
    x = np.random.default_rng(0).normal(size=(4, 7, 2)).astype(np.float32)
    lstm = pyrnn.LSTM.from_keras(model)  # Dropout is the identity at inference: nothing is dropped
    assert_parity(lstm(x), np.asarray(model(x)))


def test_from_model_with_other_layers_names_what_it_would_drop():
    model = keras.Sequential([keras.Input((7, 2)), keras.layers.LSTM(5, return_sequences=True, name="rnn"),
                              keras.layers.Dense(3, name="head"), keras.layers.Activation("softmax", name="sm")])
    with pytest.raises(ValueError, match=r"holds other layers besides its LSTM \(head \(Dense\), sm \(Activation\)\)"
                                         r".*pyrnn.from_keras\(model\).*model.get_layer\('rnn'\)"):
        pyrnn.LSTM.from_keras(model)
    x = np.random.default_rng(0).normal(size=(4, 7, 2)).astype(np.float32)
    assert_parity(pyrnn.LSTM.from_keras(model.get_layer("rnn"))(x), np.asarray(model.layers[0](x)))
    assert_parity(pyrnn.from_keras(model).predict(x), np.asarray(model(x)))


def test_unbuilt_layer_says_to_build_it():
    for cls, layer in ((pyrnn.LSTM, keras.layers.LSTM(3, name="fresh")),
                       (pyrnn.Bidirectional, keras.layers.Bidirectional(keras.layers.GRU(3), name="bi"))):
        with pytest.raises(ValueError, match=r"'(fresh|bi)' has no weights yet: build it first"):
            cls.from_keras(layer)


def test_from_model_with_two_layers_is_an_error():
    model = keras.Sequential([keras.Input((7, 2)), keras.layers.GRU(5, return_sequences=True, name="g1"),
                              keras.layers.GRU(4, name="g2")])
    with pytest.raises(ValueError, match=r"holds 2 GRU layers \(g1, g2\)"):
        pyrnn.GRU.from_keras(model)
    with pytest.raises(ValueError, match=r"holds no LSTM layer; it has: g1 \(GRU\), g2 \(GRU\)"):
        pyrnn.LSTM.from_keras(model)


def test_from_wrong_object():
    with pytest.raises(TypeError, match="expected a Keras LSTM layer"):
        pyrnn.LSTM.from_keras(np.zeros(3))
    with pytest.raises(TypeError, match="got a Dense layer"):
        pyrnn.LSTM.from_keras(keras.layers.Dense(3))


def test_stateful_is_refused():
    layer = keras.layers.LSTM(3, stateful=True)
    layer.build((2, 5, 4))
    with pytest.raises(ValueError, match="stateful=True"):
        pyrnn.LSTM.from_keras(layer)


def test_mixed_precision_is_refused():
    layer = keras.layers.GRU(3, dtype="mixed_float16")
    layer.build((None, 5, 4))
    with pytest.raises(ValueError, match="mixed_float16"):
        pyrnn.GRU.from_keras(layer)


def test_dropout_and_unroll_do_not_matter_at_inference():
    rng = np.random.default_rng(1)
    w = make_weights("LSTM", 3, 6, rng)
    layer = keras_ref.build_layer("LSTM", 3, w, dropout=0.5, recurrent_dropout=0.5, unroll=True,
                                  return_sequences=True)
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    assert_parity(pyrnn.LSTM.from_keras(layer)(x), keras_ref.run(layer, x))


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_tf_keras_2_layers(kind):
    """tf-keras 2 objects, including Keras 2's hard_sigmoid and GRU reset_after=False."""
    pytest.importorskip("tf_keras")
    rng = np.random.default_rng(2)
    opts = dict(return_sequences=True, return_state=True, go_backwards=True)
    if kind != "SimpleRNN":
        opts["recurrent_activation"] = "hard_sigmoid"
    if kind == "GRU":
        opts["reset_after"] = False
    w = make_weights(kind, 4, 11, rng, reset_after=False)
    layer = keras_ref.build_layer(kind, 4, w, version=2, **opts)
    x = (3 * rng.normal(size=(3, 9, 4))).astype(np.float32)
    mask = rng.random((3, 9)) > 0.3
    ref = keras_ref.run(layer, x, mask=mask)
    ours = getattr(pyrnn, kind).from_keras(layer)
    assert ours.recurrent_activation in (None, "hard_sigmoid_keras2")
    assert_parity(ours(x, mask=mask), ref)


def test_tf_keras_2_bidirectional():
    pytest.importorskip("tf_keras")
    rng = np.random.default_rng(3)
    wf, wb = make_weights("GRU", 4, 6, rng), make_weights("GRU", 4, 6, rng)
    layer = keras_ref.build_bidirectional("GRU", 4, wf, wb, "ave", version=2, return_sequences=True)
    x = rng.normal(size=(2, 8, 4)).astype(np.float32)
    assert_parity(pyrnn.Bidirectional.from_keras(layer)(x), keras_ref.run(layer, x))


def test_get_weights_round_trip_and_repr():
    w = make_weights("GRU", 3, 4, np.random.default_rng(0))
    gru = pyrnn.GRU(*w, return_sequences=True, name="enc")
    for a, b in zip(gru.get_weights(), w):
        np.testing.assert_array_equal(a, b)
    text = repr(gru)
    assert "pyrnn.GRU(units=4, input_dim=3" in text and "reset_after=True" in text and "'enc'" in text
    bi = pyrnn.Bidirectional(pyrnn.GRU(*w), pyrnn.GRU(*w, go_backwards=True), merge_mode="sum")
    assert "merge_mode='sum'" in repr(bi)
