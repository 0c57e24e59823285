"""pyrnn.dask.predict and pyrnn.BatchPredictor on a real distributed cluster (two worker processes).

Every result is compared bit for bit with ``model.predict`` on the whole input: rows never interact, so
how dask splits them must not change a single bit. The demo model ships with pyrnn, so most tests need
no TensorFlow; the multi-input / multi-output and stateful cases build Keras models (skipped without TF).
"""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
from conftest import keras_module

import pyrnn

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
import pyrnn.dask  # noqa: E402

DEMO = os.path.join(os.path.dirname(os.path.abspath(pyrnn.__file__)), "data", "demo_sunspots.keras")
UNEVEN = ((37, 1, 250, 0, 112), (24,), (1,))  # uneven row chunks (one empty); time/features split below


# The scheduler's HTTP server binds a random free port (":0"): with the default (8787, also what None means for
# that server) a second cluster on the machine (other tests, other users) gets a port-in-use warning.
NO_DASHBOARD = ":0"


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=NO_DASHBOARD)
    with cluster, distributed.Client(cluster) as c:
        yield c


@pytest.fixture(scope="module")
def demo():
    return pyrnn.load(DEMO)


def _x(n=400, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 24, 1)).astype(np.float32)


def _loads(client):
    return {w: s["loads"] for w, s in client.run(pyrnn.dask.stats).items()}


def test_uneven_chunks_match_predict_bitwise(client, demo):
    x = _x()
    dx = da.from_array(x, chunks=UNEVEN).rechunk({1: 5})  # time split across chunks too: predict rechunks it
    for source in (DEMO, demo):
        y = pyrnn.dask.predict(source, dx)
        assert isinstance(y, da.Array) and y.dtype == np.float32 and y.shape == (400, 1)
        assert y.chunks[0] == UNEVEN[0]
        got = y.compute()
        np.testing.assert_array_equal(got, demo.predict(x))
    # batch_size inside a block changes nothing either.
    got = pyrnn.dask.predict(demo, da.from_array(x, chunks=(150, 24, 1)), batch_size=7, num_threads=1).compute()
    np.testing.assert_array_equal(got, demo.predict(x))


def test_model_loads_once_per_worker_process(client, demo, tmp_path):
    # A file no other test uses, so its token (path, mtime, size) is new to every worker.
    path = tmp_path / "demo_copy.keras"
    path.write_bytes(open(DEMO, "rb").read())
    before = client.run(pyrnn.dask.stats)
    x = _x(600, seed=1)
    y = pyrnn.dask.predict(str(path), da.from_array(x, chunks=25))  # 24 blocks, 24 tasks
    np.testing.assert_array_equal(y.compute(), demo.predict(x))
    after = client.run(pyrnn.dask.stats)
    new_loads = {w: after[w]["loads"] - before[w]["loads"] for w in after}
    new_calls = sum(after[w]["calls"] - before[w]["calls"] for w in after)
    assert new_calls == 24
    assert all(n <= 1 for n in new_loads.values()), new_loads  # once per process, not once per task
    assert sum(new_loads.values()) >= 1
    # Computing again reuses the workers' models: no load at all.
    np.testing.assert_array_equal(y.compute(), demo.predict(x))
    assert {w: s["loads"] for w, s in client.run(pyrnn.dask.stats).items()} == {w: a["loads"] for w, a in after.items()}


def test_threaded_worker_loads_once():
    x = _x(300, seed=2)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=3, processes=True,
                                    dashboard_address=NO_DASHBOARD) as cl, \
            distributed.Client(cl) as c:
        y = pyrnn.dask.predict(DEMO, da.from_array(x, chunks=10), num_threads=1)
        np.testing.assert_array_equal(y.compute(), pyrnn.load(DEMO).predict(x))
        (stats,) = c.run(pyrnn.dask.stats).values()
        assert stats["loads"] == 1 and stats["calls"] == 30
        assert list(c.run(pyrnn.get_num_threads).values()) == [1]


def test_worker_restart_then_predict_again(client, demo):
    x = _x(200, seed=3)
    y = pyrnn.dask.predict(DEMO, da.from_array(x, chunks=50))
    np.testing.assert_array_equal(y.compute(), demo.predict(x))
    client.restart()
    assert all(s["loads"] == 0 for s in client.run(pyrnn.dask.stats).values())  # fresh processes
    np.testing.assert_array_equal(y.compute(), demo.predict(x))
    assert 1 <= sum(_loads(client).values()) <= 2


def test_several_inputs_and_outputs(client):
    keras = keras_module(3)
    import zoo

    entry = zoo.ZOO["multi_io_merges"]
    model = pyrnn.from_keras(zoo.build(entry, keras))
    rng = np.random.default_rng(4)
    seq = rng.normal(size=(90, 6, 3)).astype(np.float32)
    vec = rng.normal(size=(90, 5)).astype(np.float32)
    ys = pyrnn.dask.predict(model, {"seq": da.from_array(seq, chunks=(40, 2, 3)),
                                    "vec": da.from_array(vec, chunks=(17, 5))})
    assert isinstance(ys, list) and len(ys) == 2
    before = sum(s["calls"] for s in client.run(pyrnn.dask.stats).values())
    got = da.compute(*ys)
    calls = sum(s["calls"] for s in client.run(pyrnn.dask.stats).values()) - before
    assert calls == 3  # one model run per block of rows, shared by both outputs
    for g, r in zip(got, model.predict({"seq": seq, "vec": vec})):
        np.testing.assert_array_equal(g, r)


def test_stateful_models_are_refused():
    K = keras_module(2)
    m = K.Sequential([K.layers.LSTM(4, stateful=True, batch_input_shape=(2, 5, 3)), K.layers.Dense(1)])
    model = pyrnn.from_keras(m)
    with pytest.raises(ValueError, match="stateful"):
        pyrnn.BatchPredictor(model)
    with pytest.raises(ValueError, match="stateful"):
        pyrnn.dask.predict(model, da.zeros((4, 5, 3), chunks=2))


def test_bad_inputs_say_what_was_expected(demo):
    with pytest.raises(TypeError, match="dask.array.Array.*got ndarray"):
        pyrnn.dask.predict(demo, _x(4))
    with pytest.raises(ValueError, match=r"input 'input_layer' must have shape \(None, 24, 1\).*got \(4, 23, 1\)"):
        pyrnn.dask.predict(demo, da.zeros((4, 23, 1), chunks=2))
    with pytest.raises(ValueError, match=r"missing \['input_layer'\]"):
        pyrnn.dask.predict(demo, {"x": da.zeros((4, 24, 1))})
    with pytest.raises(TypeError, match="pyrnn.Model or the path"):
        pyrnn.BatchPredictor(42)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="no model file"):
        pyrnn.BatchPredictor("/nonexistent/model.keras")
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        pyrnn.BatchPredictor(demo, batch_size=0)


def test_batch_predictor_numpy_columns_and_pickle(demo):
    x = _x(50, seed=5)
    ref = demo.predict(x)
    pred = pyrnn.BatchPredictor(DEMO, batch_size=16)
    assert "BatchPredictor('demo" in repr(pred) and "batch_size=16" in repr(pred)
    clone = pickle.loads(pickle.dumps(pred))
    assert len(pickle.dumps(pred)) < 1000  # a path predictor pickles as its path and token, not the weights
    for p in (pred, clone, pickle.loads(pickle.dumps(pyrnn.BatchPredictor(demo)))):
        np.testing.assert_array_equal(p(x), ref)
        # Ray Data's numpy batches: a dict of columns (named like the input, or the only column).
        for batch in ({"data": x}, {demo.input_names[0]: x, "id": np.arange(50)}):
            out = p(batch)
            assert list(out) == demo.output_names
            np.testing.assert_array_equal(out[demo.output_names[0]], ref)
    with pytest.raises(ValueError, match=r"takes the column\(s\) \['input_layer'\].*got columns \['a', 'b'\]"):
        pred({"a": x, "b": x})


def test_batch_predictor_pandas(demo):
    pd = pytest.importorskip("pandas")
    x = _x(30, seed=6)
    ref = demo.predict(x)
    pred = pyrnn.BatchPredictor(demo)
    frame = pd.DataFrame(x.reshape(30, 24), columns=[f"t{i}" for i in range(24)], index=np.arange(100, 130))
    out = pred(frame)  # Spark mapInPandas: one flattened sample per row
    assert list(out.columns) == demo.output_names and (out.index == frame.index).all()
    np.testing.assert_array_equal(out.to_numpy()[:, :1], ref)
    cells = pd.Series(list(x.reshape(30, 24)), index=frame.index)  # Spark pandas_udf: a column of arrays
    np.testing.assert_array_equal(pred(cells).to_numpy()[:, None], ref)
    np.testing.assert_array_equal(pred(pd.DataFrame({"seq": cells})).to_numpy(), ref)
    with pytest.raises(ValueError, match="each row of the pandas DataFrame must hold 24 values; got 23"):
        pred(frame.iloc[:, :23])
    with pytest.raises(TypeError, match=r"columns \['name'\] are not numeric"):
        pred(frame.assign(name="a"))


def test_torch_models_keep_their_layout(client):
    """A TorchModel travels as itself (its layout and outputs), not as a plain Model."""
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    x = np.random.default_rng(7).normal(size=(70, 9, 3)).astype(np.float32)
    module = torch.nn.GRU(3, 5, num_layers=2, batch_first=True)
    model = pyrnn.from_torch(module)
    got = pyrnn.dask.predict(model, da.from_array(x, chunks=(20, 9, 3))).compute()
    np.testing.assert_array_equal(got, model.predict(x))
    seq_first = pyrnn.from_torch(torch.nn.LSTM(3, 4))  # (time, batch, features)
    xt = np.ascontiguousarray(x.transpose(1, 0, 2))
    restored = pickle.loads(pickle.dumps(pyrnn.BatchPredictor(seq_first)))
    assert type(restored.model) is type(seq_first)
    np.testing.assert_array_equal(restored(xt), seq_first.predict(xt))
    with pytest.raises(ValueError, match="batch_first=False, return_state=False"):
        pyrnn.dask.predict(seq_first, da.from_array(xt))


def test_compute_type_reaches_the_workers(client, demo):
    x = _x(120, seed=4)
    int8 = pyrnn.load(DEMO, compute_type="int8")
    dx = da.from_array(x, chunks=(50, 24, 1))
    np.testing.assert_array_equal(pyrnn.dask.predict(DEMO, dx, compute_type="int8").compute(), int8.predict(x))
    np.testing.assert_array_equal(pyrnn.dask.predict(int8, dx).compute(), int8.predict(x))
    with pytest.raises(ValueError, match="computes in float32, not int8"):
        pyrnn.dask.predict(demo, dx, compute_type="int8")
