"""pyrnn.load on bad files: the right exception type, and a message naming the file (and the layer).

ModelFormatError (a ValueError) for corrupt/truncated/non-model files, missing weights and weight shape
mismatches; UnsupportedLayerError (a ModelFormatError) listing every unsupported layer at once;
FileNotFoundError for a missing path; ValueError for wrong inputs to predict.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import zipfile

import numpy as np
import pytest
from conftest import keras_module, save_model

import pyrnn

h5py = pytest.importorskip("h5py")


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    """A small valid model (Keras 3) saved as .keras and .h5, with distinctive layer names."""
    keras = keras_module(3)
    d = tmp_path_factory.mktemp("good")
    L = keras.layers
    model = keras.Sequential([keras.Input(shape=(8, 3)), L.LSTM(5, name="encoder_lstm"),
                              L.Dense(4, activation="relu", name="hidden_dense"), L.Dense(2, name="head_dense")],
                             name="good_model")
    return dict(dir=d, model=model, keras=save_model(model, d / "good.keras"), h5=save_model(model, d / "good.h5"))


@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    keras = keras_module(3)
    d = tmp_path_factory.mktemp("multi")
    L = keras.layers
    a, b = keras.Input(shape=(6, 3), name="a"), keras.Input(shape=(4,), name="b")
    y = L.Dense(2, name="out")(L.Concatenate(name="cat")([L.GRU(3, name="gru")(a), L.Dense(3, name="proj")(b)]))
    model = keras.Model([a, b], y, name="two_inputs")
    return dict(model=model, keras=save_model(model, d / "two_inputs.keras"))


def _expect(exc_type, path, *fragments):
    """pyrnn.load(path) raises exc_type whose message names the file and every fragment."""
    with pytest.raises(exc_type) as info:
        pyrnn.load(path)
    msg = str(info.value)
    assert os.path.basename(path) in msg, f"message does not name the file: {msg!r}"
    for frag in fragments:
        assert frag in msg, f"message does not mention {frag!r}: {msg!r}"
    return msg


def _rewrite_zip(src, dst, drop=(), replace=None):
    replace = replace or {}
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for item in zin.infolist():
            if item.filename in drop:
                continue
            data = replace.get(item.filename, zin.read(item.filename))
            zout.writestr(item.filename, data)
    return str(dst)


def _edit_weights_h5(src_keras, dst, edit):
    """Copy a .keras file, applying edit(h5py.File) to its model.weights.h5."""
    with zipfile.ZipFile(src_keras) as z:
        raw = z.read("model.weights.h5")
    buf = io.BytesIO(raw)
    with h5py.File(buf, "r+") as f:
        edit(f)
    return _rewrite_zip(src_keras, dst, replace={"model.weights.h5": buf.getvalue()})


# ---------------------------------------------------------------------------------------------- hierarchy


def test_exception_hierarchy():
    assert issubclass(pyrnn.ModelFormatError, ValueError)
    assert issubclass(pyrnn.UnsupportedLayerError, pyrnn.ModelFormatError)


# ---------------------------------------------------------------------------------------------- not a model


def test_nonexistent_path(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        pyrnn.load(str(tmp_path / "no_such_model.keras"))
    assert "no_such_model.keras" in str(info.value)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_text_file_renamed(tmp_path, suffix):
    p = tmp_path / f"notes{suffix}"
    p.write_text("this is a text file, not a model\n" * 20)
    _expect(pyrnn.ModelFormatError, str(p))


def test_empty_file(tmp_path):
    p = tmp_path / "empty.keras"
    p.write_bytes(b"")
    _expect(pyrnn.ModelFormatError, str(p))


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_truncated_file(good, tmp_path, fmt):
    raw = open(good[fmt], "rb").read()
    p = tmp_path / f"truncated.{fmt}"
    p.write_bytes(raw[: len(raw) // 2])
    _expect(pyrnn.ModelFormatError, str(p))


def test_keras_zip_without_config(good, tmp_path):
    _expect(pyrnn.ModelFormatError, _rewrite_zip(good["keras"], tmp_path / "noconfig.keras", drop={"config.json"}))


def test_keras_zip_without_weights(good, tmp_path):
    _expect(pyrnn.ModelFormatError,
            _rewrite_zip(good["keras"], tmp_path / "noweights.keras", drop={"model.weights.h5"}))


def test_keras_config_not_json(good, tmp_path):
    p = _rewrite_zip(good["keras"], tmp_path / "badjson.keras", replace={"config.json": b'{"class_name": "Seq'})
    _expect(pyrnn.ModelFormatError, p)


def test_keras_config_not_a_model(good, tmp_path):
    p = _rewrite_zip(good["keras"], tmp_path / "listcfg.keras", replace={"config.json": b"[1, 2, 3]"})
    _expect(pyrnn.ModelFormatError, p)


def test_unrelated_zip(tmp_path):
    p = tmp_path / "archive.keras"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("readme.txt", "hello")
    _expect(pyrnn.ModelFormatError, str(p))


def test_unrelated_hdf5(tmp_path):
    p = tmp_path / "data.h5"
    with h5py.File(p, "w") as f:
        f["x"] = np.arange(10.0)
    _expect(pyrnn.ModelFormatError, str(p))


def test_weights_only_h5_is_not_a_model(good, tmp_path):
    p = tmp_path / "only.weights.h5"
    good["model"].save_weights(str(p))
    _expect(pyrnn.ModelFormatError, str(p))


# ---------------------------------------------------------------------------------------------- weights


def test_keras_weights_missing_a_layer_group(good, tmp_path):
    def drop(f):
        del f["layers/dense_1"]  # the second Dense, i.e. the layer named head_dense

    p = _edit_weights_h5(good["keras"], tmp_path / "missing_group.keras", drop)
    _expect(pyrnn.ModelFormatError, p, "head_dense")


def test_keras_weights_wrong_shape(good, tmp_path):
    def reshape(f):
        g = f["layers/dense/vars"]
        k = g["0"][()]
        del g["0"]
        g["0"] = np.zeros((k.shape[0] + 1, k.shape[1]), np.float32)

    p = _edit_weights_h5(good["keras"], tmp_path / "wrong_shape.keras", reshape)
    _expect(pyrnn.ModelFormatError, p, "hidden_dense")


def test_legacy_h5_weight_wrong_shape(good, tmp_path):
    p = str(tmp_path / "wrong_shape.h5")
    shutil.copy(good["h5"], p)
    with h5py.File(p, "r+") as f:
        g = f["model_weights/encoder_lstm"]
        names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
        rk = names[1]  # recurrent kernel (5, 20)
        shape = g[rk].shape
        del g[rk]
        g[rk] = np.zeros((shape[0] + 2, shape[1]), np.float32)
    _expect(pyrnn.ModelFormatError, p, "encoder_lstm")


def test_legacy_h5_missing_layer_group(good, tmp_path):
    p = str(tmp_path / "missing_group.h5")
    shutil.copy(good["h5"], p)
    with h5py.File(p, "r+") as f:
        del f["model_weights/hidden_dense"]
    _expect(pyrnn.ModelFormatError, p, "hidden_dense")


def test_legacy_h5_missing_dataset(good, tmp_path):
    p = str(tmp_path / "missing_dataset.h5")
    shutil.copy(good["h5"], p)
    with h5py.File(p, "r+") as f:
        g = f["model_weights/head_dense"]
        names = [n.decode() if isinstance(n, bytes) else n for n in g.attrs["weight_names"]]
        del g[names[-1]]
    _expect(pyrnn.ModelFormatError, p, "head_dense")


def test_legacy_h5_model_config_not_json(good, tmp_path):
    p = str(tmp_path / "badcfg.h5")
    shutil.copy(good["h5"], p)
    with h5py.File(p, "r+") as f:
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": {'
    _expect(pyrnn.ModelFormatError, p)


# ---------------------------------------------------------------------------------------------- unsupported


@pytest.fixture(scope="module")
def unsupported(tmp_path_factory):
    """Keras 3 and tf-keras models with three unsupported layers (Lambda, Conv1DTranspose, UpSampling1D is
    deliberately avoided: only layers clearly outside the supported list)."""
    d = tmp_path_factory.mktemp("unsupported")
    files = {}
    for tag, k in (("k3", keras_module(3)), ("k2", keras_module(2))):
        L = k.layers
        x = k.Input(shape=(8, 3), name="x")
        h = L.Lambda(lambda t: t * 2.0, name="double_it")(x)
        h = L.Conv1DTranspose(4, 3, name="deconv")(h)
        h = L.LSTM(5, name="ok_lstm")(h)
        model = k.Model(x, L.Dense(2, name="ok_dense")(h), name=f"unsupported_{tag}")
        for fmt in ("keras", "h5"):
            files[f"{tag}-{fmt}"] = save_model(model, d / f"unsupported_{tag}.{fmt}")
        files[f"{tag}-live"] = model
    return files


@pytest.mark.parametrize("case", ["k3-keras", "k3-h5", "k2-keras", "k2-h5"])
def test_unsupported_layers_listed_together(unsupported, case):
    msg = _expect(pyrnn.UnsupportedLayerError, unsupported[case], "double_it", "Lambda", "deconv",
                  "Conv1DTranspose")
    assert "ok_lstm" not in msg and "ok_dense" not in msg, msg


@pytest.mark.parametrize("tag", ["k3", "k2"])
def test_unsupported_layers_from_keras(unsupported, tag):
    with pytest.raises(pyrnn.UnsupportedLayerError) as info:
        pyrnn.from_keras(unsupported[f"{tag}-live"])
    for frag in ("double_it", "Lambda", "deconv", "Conv1DTranspose"):
        assert frag in str(info.value)


def test_stateful_layer_inside_bidirectional_is_unsupported(tmp_path):
    """Plain stateful layers load as stateful (tests/streaming/test_streaming.py); inside Bidirectional they are
    refused."""
    keras = keras_module(3)
    L = keras.layers
    model = keras.Sequential([keras.Input(batch_shape=(2, 5, 3)),
                              L.Bidirectional(L.GRU(4, stateful=True), name="bidi_stateful"), L.Dense(1, name="d")])
    p = save_model(model, tmp_path / "stateful.keras")
    _expect(pyrnn.UnsupportedLayerError, p, "bidi_stateful")


def _set_activation(cfg, layer_name, act):
    found = []

    def walk(node):
        if isinstance(node, dict):
            c = node.get("config")
            if isinstance(c, dict) and c.get("name") == layer_name and "activation" in c:
                c["activation"] = act
                found.append(node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(cfg)
    assert found, f"no layer {layer_name} in config"
    return cfg


def test_unknown_activation_keras(good, tmp_path):
    with zipfile.ZipFile(good["keras"]) as z:
        cfg = json.loads(z.read("config.json"))
    cfg = _set_activation(cfg, "hidden_dense", "no_such_activation")
    p = _rewrite_zip(good["keras"], tmp_path / "badact.keras", replace={"config.json": json.dumps(cfg).encode()})
    msg = _expect(pyrnn.ModelFormatError, p, "hidden_dense")
    assert "no_such_activation" in msg, msg


def test_unknown_activation_legacy_h5(good, tmp_path):
    p = str(tmp_path / "badact.h5")
    shutil.copy(good["h5"], p)
    with h5py.File(p, "r+") as f:
        raw = f.attrs["model_config"]
        cfg = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        f.attrs["model_config"] = json.dumps(_set_activation(cfg, "encoder_lstm", "warp_speed"))
    msg = _expect(pyrnn.ModelFormatError, p, "encoder_lstm")
    assert "warp_speed" in msg, msg


# ---------------------------------------------------------------------------------------------- predict inputs


def test_predict_wrong_feature_count(good):
    model = pyrnn.load(good["keras"])
    with pytest.raises(ValueError) as info:
        model.predict(np.zeros((2, 8, 4), np.float32))
    assert "3" in str(info.value) and "4" in str(info.value), str(info.value)


def test_predict_wrong_rank(good):
    model = pyrnn.load(good["h5"])
    with pytest.raises(ValueError, match=r"8, 3"):
        model.predict(np.zeros((8, 3), np.float32))


def test_predict_wrong_number_of_inputs(multi):
    model = pyrnn.load(multi["keras"])
    a, b = np.zeros((2, 6, 3), np.float32), np.zeros((2, 4), np.float32)
    assert model.predict([a, b]).shape == (2, 2)
    with pytest.raises(ValueError):
        model.predict(a)
    with pytest.raises(ValueError):
        model.predict([a])
    with pytest.raises(ValueError):
        model.predict([a, b, b])
    with pytest.raises(ValueError):
        model.predict([b, a])  # swapped: shapes do not fit
    with pytest.raises(ValueError):
        model.predict([a, b[:1]])  # batch sizes differ


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_keras3_operation_feeding_a_layer_is_unsupported(tmp_path, fmt):
    """Keras 3 records `x * 2.0` in a functional model as an operation node; pyrnn refuses it with a message
    naming the operation and the layer it feeds (mask-computing operation nodes are accepted elsewhere)."""
    keras = keras_module(3)
    L = keras.layers
    x = keras.Input(shape=(5, 3), name="x")
    scaled = x * 2.0
    y = L.LSTM(4, name="after_op")(scaled)
    model = keras.Model(x, y, name="with_op")
    path = save_model(model, tmp_path / f"with_op.{fmt}")
    with pytest.raises(pyrnn.UnsupportedLayerError) as info:
        pyrnn.load(path)
    msg = str(info.value)
    assert "with_op" in msg and "after_op" in msg and "operation" in msg


def test_cycle_in_functional_graph_is_an_error(tmp_path):
    """A hand-edited config whose nodes form a cycle gives a ModelFormatError, not a hang or a crash."""
    keras = keras_module(3)
    L = keras.layers
    x = keras.Input(shape=(5, 3), name="x")
    a = L.Dense(3, name="a")(x)
    b = L.Dense(3, name="b")(a)
    model = keras.Model(x, b, name="cyclic")
    path = save_model(model, tmp_path / "cyclic.keras")
    with zipfile.ZipFile(path) as zf:
        entries = {n: zf.read(n) for n in zf.namelist()}
    cfg = json.loads(entries["config.json"])
    for layer in cfg["config"]["layers"]:
        if layer["name"] == "a":  # a now reads b, which reads a
            layer["inbound_nodes"][0]["args"][0]["config"]["keras_history"] = ["b", 0, 0]
    entries["config.json"] = json.dumps(cfg).encode()
    bad = tmp_path / "cyclic_edited.keras"
    with zipfile.ZipFile(bad, "w") as zf:
        for n, data in entries.items():
            zf.writestr(n, data)
    with pytest.raises(pyrnn.ModelFormatError, match="cycle"):
        pyrnn.load(str(bad))


def test_mixed_precision_policy_is_refused(tmp_path):
    """A mixed_float16 dtype policy computes in float16 in Keras; pyrnn refuses it rather than disagree."""
    keras = keras_module(3)
    L = keras.layers
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.Sequential([keras.Input((5, 3)), L.LSTM(4, name="half_lstm"), L.Dense(2, name="half_dense")],
                                 name="mixed")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    path = save_model(model, tmp_path / "mixed.keras")
    with pytest.raises(pyrnn.UnsupportedLayerError) as info:
        pyrnn.load(path)
    msg = str(info.value)
    assert "mixed_float16" in msg and "half_lstm" in msg and "half_dense" in msg and "mixed.keras" in msg
    assert msg.count("half_lstm") == 1  # each layer is listed once


def test_per_channel_rescaling_is_unsupported(tmp_path):
    """Rescaling with a scalar scale/offset runs (tests/zoo.py: rescaled_sensor); per-channel arrays are refused."""
    keras = keras_module(3)
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.Rescaling(scale=[1.0, 2.0, 3.0], name="per_channel"),
                              keras.layers.LSTM(2)])
    with pytest.raises(pyrnn.UnsupportedLayerError, match=r"'per_channel' \(Rescaling\): a per-channel scale is not "
                                                          r"supported \(only a number\)"):
        pyrnn.load(save_model(model, tmp_path / "per_channel.keras"))
