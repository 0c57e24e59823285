"""model.profile(): per-layer timings from inside the native plan, and `pyrnn bench --per-layer/--json`.

Models are built from configs (no TensorFlow needed)."""

from __future__ import annotations

import json
import os
import threading

import numpy as np
import pytest

import pyrnn
from pyrnn import cli
from pyrnn.keras_files import ModelSource

DEMO = os.path.join(os.path.dirname(pyrnn.__file__), "data", "demo_sunspots.keras")
RNG = np.random.default_rng(0)  # inputs; each model draws its weights from its own seed


def _layer(cls, name, **cfg):
    return {"class_name": cls, "name": name, "module": "keras.layers", "config": dict(cfg, name=name)}


def _w(rng, *shape):
    return rng.standard_normal(shape).astype(np.float32) * 0.3


def small_model(stateful=False):
    """Input (B, 6, 3) -> LSTM(8, return_sequences) -> TimeDistributed(Dense(4)) -> GRU(5) -> Dense(2)."""
    batch = 2 if stateful else None
    rng = np.random.default_rng(1)
    layers = [
        _layer("InputLayer", "x", batch_shape=[batch, 6, 3]),
        _layer("LSTM", "enc", units=8, return_sequences=True, stateful=stateful),
        _layer("TimeDistributed", "td", layer={"class_name": "Dense", "config": {"name": "inner", "units": 4}}),
        _layer("GRU", "dec", units=5, reset_after=True),
        _layer("Dense", "head", units=2, activation="softmax"),
    ]
    weights = {
        "enc": [("k", _w(rng, 3, 32)), ("r", _w(rng, 8, 32)), ("b", _w(rng, 32))],
        "td": [("k", _w(rng, 8, 4)), ("b", _w(rng, 4))],
        "dec": [("k", _w(rng, 4, 15)), ("r", _w(rng, 5, 15)), ("b", _w(rng, 2, 15))],
        "head": [("k", _w(rng, 5, 2)), ("b", _w(rng, 2))],
    }
    cfg = {"class_name": "Sequential", "config": {"name": "small", "layers": layers}}
    return pyrnn.Model(ModelSource("small", cfg, "3.15.1", weights, "object"))


def test_rows_name_every_layer_and_add_up():
    model = small_model()
    x = RNG.standard_normal((3, 6, 3)).astype(np.float32)
    prof = model.profile(x, repeats=4, warmup=2)
    assert isinstance(prof, pyrnn.Profile) and prof.repeats == 4 and prof.warmup == 2 and prof.batch == 3
    by_layer = {(r.layer, r.cls, r.op) for r in prof.rows}
    assert {("enc", "LSTM", "rnn"), ("dec", "GRU", "rnn"), ("head", "Dense", "dense")} <= by_layer
    assert ("td/inner", "Dense", "dense") in by_layer  # the layer inside a wrapper, named by its path
    assert sum(r.calls for r in prof.rows if r.op) == 4 * model._num_ops
    assert [r.total_s for r in prof.rows] == sorted((r.total_s for r in prof.rows), reverse=True)
    assert sum(r.share for r in prof.rows) == pytest.approx(1.0, abs=1e-6)
    assert all(r.total_s >= 0 and r.mean_s == pytest.approx(r.total_s / 4) for r in prof.rows)
    assert len(prof.wall_s) == 4 and prof.min_s <= prof.mean_s
    d = json.loads(json.dumps(prof.to_dict()))
    assert d["repeats"] == 4 and {r["layer"] for r in d["rows"]} >= {"enc", "td/inner", "dec", "head", "(outside ops)"}
    text = str(prof)
    assert "enc" in text and "share" in text and "%" in text
    assert repr(prof).startswith("<pyrnn.Profile 'small'")


def test_profiling_does_not_change_results_or_states():
    model = small_model(stateful=True)
    x = RNG.standard_normal((2, 6, 3)).astype(np.float32)
    first = model.predict(x)
    states = model.states
    model.profile(x, repeats=2)
    for k, v in model.states.items():
        np.testing.assert_array_equal(v, states[k])
    again = small_model(stateful=True)
    again.predict(x)
    np.testing.assert_array_equal(model.predict(x), again.predict(x))
    assert first.shape == (2, 2)


def test_concurrent_predicts_are_unaffected():
    model = pyrnn.load(DEMO)
    x = np.load(os.path.join(os.path.dirname(DEMO), "demo_inputs.npy"))
    ref = model.predict(x)
    errors = []

    def predictor():
        for _ in range(30):
            if not np.array_equal(model.predict(x), ref):
                errors.append("predict changed while another thread profiled")

    def profiler():
        for _ in range(5):
            p = model.profile(x, repeats=3)
            if sorted(r.layer for r in p.rows) != ["(outside ops)", "dense", "lstm"]:
                errors.append(f"unexpected rows {p.rows}")

    threads = [threading.Thread(target=f) for f in (predictor, profiler, predictor, profiler)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


def test_bad_arguments_are_explained():
    model = small_model()
    x = np.zeros((1, 6, 3), np.float32)
    with pytest.raises(ValueError, match="repeats must be at least 1, got 0"):
        model.profile(x, repeats=0)
    with pytest.raises(ValueError, match="warmup must be at least 0, got -1"):
        model.profile(x, warmup=-1)
    with pytest.raises(TypeError, match="repeats must be an integer, got float"):
        model.profile(x, repeats=2.5)
    with pytest.raises(ValueError, match=r"must have shape \(None, 6, 3\)"):
        model.profile(np.zeros((1, 5, 3), np.float32))


def test_cli_bench_json_and_per_layer(capsys):
    assert cli.main(["bench", DEMO, "--batch-sizes", "1,4", "--per-layer", "--repeats", "3", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["batch"] for r in out["results"]] == [1, 4]
    for r in out["results"]:
        assert r["min_ms"] <= r["p50_ms"] <= r["p90_ms"] <= r["p99_ms"]
        assert r["mean_ms"] > 0 and r["sequences_per_s"] > 0
        assert {row["layer"] for row in r["per_layer"]} == {"lstm", "dense", "(outside ops)"}
    assert cli.main(["bench", DEMO, "--batch-sizes", "2", "--per-layer", "--repeats", "2"]) == 0
    text = capsys.readouterr().out
    assert "p50" in text and "p90" in text and "p99" in text and "Profile of" in text and "lstm" in text
    assert cli.main(["bench", DEMO, "--batch-sizes", "1", "--json"]) == 0
    assert "per_layer" not in json.loads(capsys.readouterr().out)["results"][0]
