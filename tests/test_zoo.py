"""Whole-model parity: every zoo architecture (tests/zoo.py), written by Keras 3 and tf-keras 2 as `.keras`
and legacy `.h5`, loaded by `pyrnn.load` in a process without TensorFlow, compared with Keras's own outputs.

Test ids read `<model>-<writer>-<format>`, writer k3 = keras 3.15, k2 = tf-keras 2.21.
The worst error per model is reported as a ZooReport warning at the end of the module.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import TOL, assert_parity, rel_err

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")
tf_keras = pytest.importorskip("tf_keras")

import zoo  # noqa: E402

import pyrnn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
HELPER = os.path.join(HERE, "_load_in_subprocess.py")
MODULES = {"k3": keras, "k2": tf_keras}
CASES = zoo.cases()
CASE_IDS = [f"{n}-{w}-{f}" for n, w, f in CASES]
NAMES = list(zoo.ZOO)
WORST: dict = {}


class ZooReport(UserWarning):
    """Carries the per-model error table to pytest's warnings summary."""


def _np_out(out):
    if isinstance(out, dict):  # not expected for list-output models, but be explicit
        raise AssertionError("Keras returned a dict of outputs")
    if isinstance(out, (list, tuple)):
        return [np.asarray(o) for o in out]
    return np.asarray(out)


def _shape(s):
    if isinstance(s, (list, tuple)):
        return [_shape(v) for v in s]
    return None if s is None else int(s)


def _env():
    env = dict(os.environ)
    env.update(TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="-1", PYTHONWARNINGS="ignore")
    env.pop("PYTHONPATH", None)  # the installed pyrnn, never the source tree
    return env


@pytest.fixture(scope="module")
def zoo_run(tmp_path_factory):
    """Build, save and run every zoo model with Keras; then one TF-free subprocess loads every file."""
    d = tmp_path_factory.mktemp("zoo")
    cases, models, live = {}, {}, {}
    for e in zoo.ZOO.values():
        x = zoo.make_input(e)
        multi_in = isinstance(x, list)
        np.savez(d / f"{e.name}.input.npz", *(x if multi_in else [x]))
        for w in e.writers:
            k = MODULES[w]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. "Conv1D ... will destroy the mask" (intended)
                model = zoo.build(e, k)
                ref = _np_out(model(x, training=False))
            multi_out = isinstance(ref, list)
            np.savez(d / f"{e.name}-{w}.ref.npz", *(ref if multi_out else [ref]))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                for f in e.formats:
                    model.save(str(d / f"{e.name}-{w}.{f}"))
            models[(e.name, w)] = dict(
                ref=ref, x=x, multi_in=multi_in, multi_out=multi_out,
                layers=[layer.name for layer in model.layers], count_params=int(model.count_params()),
                input_shape=_shape(model.input_shape), output_shape=_shape(model.output_shape), name=model.name,
            )
            live[(e.name, w)] = model
            for f in e.formats:
                cases[f"{e.name}-{w}-{f}"] = dict(file=f"{e.name}-{w}.{f}", input=f"{e.name}.input.npz",
                                                  multi_input=multi_in)
    with open(d / "manifest.json", "w") as fh:
        json.dump({"cases": cases}, fh)
    proc = subprocess.run([sys.executable, HELPER, str(d)], cwd=d, env=_env(), capture_output=True, text=True,
                          timeout=900)
    results = {}
    if (d / "results.json").exists():
        with open(d / "results.json") as fh:
            results = json.load(fh)
    return SimpleNamespace(dir=d, models=models, live=live, proc=proc, results=results)


def _result(zoo_run, case_id):
    r = zoo_run.results.get(case_id)
    if r is None:
        pytest.fail(f"the loader subprocess produced no result for {case_id} (rc={zoo_run.proc.returncode}):\n"
                    f"{zoo_run.proc.stderr[-3000:]}")
    if "error" in r:
        pytest.fail(f"pyrnn.load/predict failed for {case_id}: {r['error']}\n{r.get('traceback', '')}")
    return r


def _pyrnn_out(zoo_run, case_id, r):
    with np.load(zoo_run.dir / f"{case_id}.pyrnn.npz") as z:
        ys = [z[f"arr_{i}"] for i in range(len(z.files))]
    return ys if r["kind"] == "list" else ys[0]


# ---------------------------------------------------------------------------------------------- TF-free loading


def test_loader_subprocess_never_imports_tensorflow(zoo_run):
    heavy = zoo_run.results.get("__heavy_modules__")
    assert heavy is not None, (f"loader subprocess crashed (rc={zoo_run.proc.returncode}):\n"
                               f"{zoo_run.proc.stderr[-3000:]}")
    assert heavy == [], f"pyrnn.load imported {heavy[:10]}"
    assert zoo_run.proc.returncode == 0, zoo_run.proc.stderr[-3000:]
    # The subprocess used the installed package, not a source tree on sys.path.
    assert zoo_run.results["__pyrnn_file__"] == pyrnn.__file__


# ---------------------------------------------------------------------------------------------- parity per file


@pytest.mark.parametrize("name,writer,fmt", CASES, ids=CASE_IDS)
def test_zoo_parity(zoo_run, name, writer, fmt):
    case_id = f"{name}-{writer}-{fmt}"
    r = _result(zoo_run, case_id)
    m = zoo_run.models[(name, writer)]
    got = _pyrnn_out(zoo_run, case_id, r)
    if m["multi_out"]:
        assert r["kind"] == "list", f"Keras has {len(m['ref'])} outputs, pyrnn returned {r['kind']}"
        assert [g.shape for g in got] == [a.shape for a in m["ref"]]
    else:
        assert r["kind"] == "ndarray", f"single-output model: pyrnn returned {r['kind']}"
        assert got.shape == m["ref"].shape
    err = assert_parity(got, m["ref"])
    if err > WORST.get(name, (-1.0, ""))[0]:
        WORST[name] = (err, case_id)


@pytest.mark.parametrize("name,writer,fmt", CASES, ids=CASE_IDS)
def test_zoo_metadata(zoo_run, name, writer, fmt):
    """input_shape/output_shape like Keras, count_params equal to Keras's, summary names every layer, repr."""
    case_id = f"{name}-{writer}-{fmt}"
    r = _result(zoo_run, case_id)
    m = zoo_run.models[(name, writer)]
    assert not r.get("attr_errors"), r.get("attr_errors")
    assert r["count_params"] == m["count_params"]
    assert r["input_shape"] == m["input_shape"]
    assert r["output_shape"] == m["output_shape"]
    assert all(dt == "float32" for dt in r["dtypes"]), r["dtypes"]
    missing = [n for n in m["layers"] if n not in r["summary"]]
    assert not missing, f"summary() does not mention {missing}:\n{r['summary']}"
    assert m["name"] in r["repr"], r["repr"]
    # "layer count": with or without the InputLayer(s), which Keras lists only for Functional models.
    n_in = len(m["input_shape"]) if m["multi_in"] else 1
    counts = {len(m["layers"]), len(m["layers"]) - n_in, len(m["layers"]) + n_in}
    assert any(str(c) in r["repr"] for c in counts), f"no layer count {sorted(counts)} in {r['repr']!r}"


# ---------------------------------------------------------------------------------------------- in-process API


def _file(zoo_run, name):
    e = zoo.ZOO[name]
    w = "k3" if "k3" in e.writers else e.writers[0]
    return str(zoo_run.dir / f"{name}-{w}.keras"), zoo_run.models[(name, w)]


@pytest.mark.parametrize("name", NAMES)
def test_chunked_predict_is_bitwise_identical(zoo_run, name):
    path, m = _file(zoo_run, name)
    model = pyrnn.load(path)
    whole = model.predict(m["x"])
    for bs in (1, 2, 3):
        part = model.predict(m["x"], batch_size=bs)
        for a, b in zip(whole if isinstance(whole, list) else [whole], part if isinstance(part, list) else [part]):
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b, err_msg=f"batch_size={bs} differs from one call")
    # ...and the whole thing is still Keras (so the identity is not of two wrong answers).
    assert_parity(whole, m["ref"])


@pytest.mark.parametrize("name", NAMES)
def test_call_equals_predict(zoo_run, name):
    path, m = _file(zoo_run, name)
    model = pyrnn.load(path)
    a, b = model(m["x"]), model.predict(m["x"])
    assert type(a) is type(b)
    for p, q in zip(a if isinstance(a, list) else [a], b if isinstance(b, list) else [b]):
        np.testing.assert_array_equal(p, q)
    assert_parity(a, m["ref"])


def test_summary_prints_to_stdout(zoo_run):
    path, m = _file(zoo_run, "multi_io_merges")
    model = pyrnn.load(path)
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        model.summary()
    text = buf.getvalue()
    assert all(n in text for n in m["layers"]), text
    assert str(m["count_params"]) in text.replace(",", "").replace("_", ""), text


FROM_KERAS = ["lstm_dense", "emb_bilstm_lstm", "encoder_decoder", "multi_io_merges", "norm_and_activations",
              "td_nested", "nested_model_functional", "gru_v1_hard", "masking_gru_gap", "bidir_return_state"]


@pytest.mark.parametrize("writer", ["k3", "k2"])
@pytest.mark.parametrize("name", FROM_KERAS)
def test_from_keras_live_model(zoo_run, name, writer):
    if (name, writer) not in zoo_run.live:
        pytest.skip(f"{name} is not built with {writer}")
    live = zoo_run.live[(name, writer)]
    m = zoo_run.models[(name, writer)]
    model = pyrnn.from_keras(live)
    got = model.predict(m["x"])
    err = assert_parity(got, m["ref"])
    WORST[f"{name} (from_keras {writer})"] = (err, "")
    assert model.count_params() == m["count_params"]
    assert _shape(model.output_shape) == m["output_shape"]


# ---------------------------------------------------------------------------------------------- CLI


def _cli(args, cwd, timeout=180):
    return subprocess.run([sys.executable, "-m", "pyrnn", *args], cwd=cwd, env=_env(), capture_output=True,
                          text=True, timeout=timeout)


def _assert_clean_error(proc):
    assert proc.returncode != 0, f"expected failure, got rc 0: {proc.stdout[-2000:]}"
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected a one-line message on stderr, got:\n{proc.stderr}"


@pytest.mark.parametrize("fmt", ["keras", "h5"])
def test_cli_info(zoo_run, fmt):
    proc = _cli(["info", f"emb_bilstm_lstm-k3.{fmt}"], zoo_run.dir)
    assert proc.returncode == 0, proc.stderr
    m = zoo_run.models[("emb_bilstm_lstm", "k3")]
    assert all(n in proc.stdout for n in m["layers"]), proc.stdout
    assert "Traceback" not in proc.stderr


def test_cli_console_script(zoo_run):
    exe = os.path.join(os.path.dirname(sys.executable), "pyrnn")
    if not os.path.exists(exe):
        pytest.skip(f"no console script next to {sys.executable}")
    proc = subprocess.run([exe, "info", "lstm_dense-k2.h5"], cwd=zoo_run.dir, env=_env(), capture_output=True,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert "lstm" in proc.stdout and "dense" in proc.stdout


@pytest.mark.parametrize("name,writer,fmt,bs", [
    ("autoencoder", "k3", "keras", None),
    ("masking_seq", "k2", "h5", "2"),
    ("conv_pool_lstm", "k2", "keras", "3"),
])
def test_cli_predict_round_trip(zoo_run, name, writer, fmt, bs):
    m = zoo_run.models[(name, writer)]
    np.save(zoo_run.dir / f"cli_in_{name}.npy", m["x"])
    out = zoo_run.dir / f"cli_out_{name}_{writer}_{fmt}.npy"
    args = ["predict", f"{name}-{writer}.{fmt}", f"cli_in_{name}.npy", "-o", str(out)]
    if bs:
        args += ["--batch-size", bs]
    proc = _cli(args, zoo_run.dir)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    got = np.load(out)
    assert got.shape == m["ref"].shape
    assert_parity(got, m["ref"])


def test_cli_predict_multi_input_npz(zoo_run):
    m = zoo_run.models[("encoder_decoder", "k3")]
    out = zoo_run.dir / "cli_out_encdec.npy"
    proc = _cli(["predict", "encoder_decoder-k3.h5", "encoder_decoder.input.npz", "-o", str(out)], zoo_run.dir)
    assert proc.returncode == 0, proc.stderr
    assert_parity(np.load(out), m["ref"])


def test_cli_bench(zoo_run):
    proc = _cli(["bench", "lstm_dense-k3.keras", "--batch-sizes", "1,4"], zoo_run.dir, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip(), "bench printed nothing"
    assert "1" in proc.stdout and "4" in proc.stdout


def test_cli_demo(tmp_path):
    proc = _cli(["demo"], tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    assert "Traceback" not in proc.stderr


def test_cli_errors(zoo_run):
    _assert_clean_error(_cli(["info", "does_not_exist.keras"], zoo_run.dir))
    (zoo_run.dir / "not_a_model.h5").write_text("hello, I am not HDF5\n")
    proc = _cli(["info", "not_a_model.h5"], zoo_run.dir)
    _assert_clean_error(proc)
    assert "not_a_model.h5" in proc.stderr
    np.save(zoo_run.dir / "wrong_shape.npy", np.zeros((2, 8, 5), np.float32))  # lstm_dense wants (None, 8, 3)
    _assert_clean_error(_cli(["predict", "lstm_dense-k3.keras", "wrong_shape.npy", "-o", "never.npy"], zoo_run.dir))
    assert not (zoo_run.dir / "never.npy").exists()


def test_python_m_and_console_script_agree(zoo_run):
    exe = os.path.join(os.path.dirname(sys.executable), "pyrnn")
    if not os.path.exists(exe):
        pytest.skip("no console script")
    a = _cli(["info", "td_nested-k3.keras"], zoo_run.dir)
    b = subprocess.run([exe, "info", "td_nested-k3.keras"], cwd=zoo_run.dir, env=_env(), capture_output=True,
                       text=True, timeout=180)
    assert a.returncode == b.returncode == 0
    assert a.stdout == b.stdout


# ---------------------------------------------------------------------------------------------- report


def test_zz_report_worst_errors(zoo_run):
    """Not a check: puts the worst relative error per model into the warnings summary."""
    lines = [f"{'model':40s} worst rel err   (tolerance {TOL:g})"]
    for name, (err, where) in sorted(WORST.items()):
        lines.append(f"{name:40s} {err:.2e}  {where}")
    timings = {k: v.get("total_s") for k, v in zoo_run.results.items() if isinstance(v, dict) and "total_s" in v}
    if timings:
        lines.append(f"loader subprocess: {len(timings)} files, {sum(timings.values()):.2f}s load+predict in total")
    warnings.warn(ZooReport("\n".join(lines)), stacklevel=1)
    assert rel_err(np.zeros(1, np.float32), np.zeros(1)) == 0.0
