"""The mistakes a new user makes get a message that says what to do (none of these needs TensorFlow)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import pyrnn
from pyrnn import cli

DATA = os.path.join(os.path.dirname(os.path.abspath(pyrnn.__file__)), "data")
DEMO = os.path.join(DATA, "demo_sunspots.keras")
DEMO_X = os.path.join(DATA, "demo_inputs.npy")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _LiveModel:
    """Stands in for a Keras model object: what pyrnn checks for is the duck type."""

    name = "sequential"
    layers: list = []

    def to_json(self) -> str:
        return "{}"


def test_load_given_a_live_model_points_to_from_keras():
    with pytest.raises(TypeError, match=r"pyrnn.load reads a model file \(.keras or .h5\); got a live Keras "
                                        r"_LiveModel object: convert it with pyrnn.from_keras\(model\)"):
        pyrnn.load(_LiveModel())
    with pytest.raises(TypeError, match="pyrnn.load expects the path of a .keras or .h5 file, got int"):
        pyrnn.load(3)


def test_from_keras_given_a_path_points_to_load():
    with pytest.raises(TypeError, match=r"got the path 'model.keras': read a model file with pyrnn.load\(path\)"):
        pyrnn.from_keras("model.keras")


def test_missing_batch_axis_is_named():
    model = pyrnn.load(DEMO)
    one = np.load(DEMO_X)[0]  # (24, 1): one sample
    with pytest.raises(ValueError, match=r"must have shape \(None, 24, 1\) \(None: any size\), got \(24, 1\); the "
                                         r"batch axis is missing: for one sample pass x\[None\] "
                                         r"\(shape \(1, 24, 1\)\)"):
        model.predict(one)
    with pytest.raises(ValueError, match=r"got \(24, 2\)$"):  # a wrong shape that is not a missing axis: no hint
        model.predict(np.zeros((24, 2), np.float32))
    assert model.predict(one[None]).shape == (1, 1)


@pytest.mark.parametrize("name", ["out.csv", "out", "out.npy.txt"])
def test_cli_predict_refuses_an_output_it_would_not_write(tmp_path, capsys, name):
    out = tmp_path / name
    assert cli.main(["predict", DEMO, DEMO_X, "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "pyrnn predict writes .npy (one output) or .npz (one array per output) files" in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", [".npy", ".npz"])
def test_cli_predict_writes_exactly_the_named_file(tmp_path, capsys, ext):
    out = tmp_path / f"out{ext}"
    assert cli.main(["predict", DEMO, DEMO_X, "-o", str(out)]) == 0
    assert capsys.readouterr().out.startswith(f"wrote {out}: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]
    data = np.load(out)
    y = data if ext == ".npy" else data["arr_0"]
    np.testing.assert_array_equal(y, pyrnn.load(DEMO).predict(np.load(DEMO_X)))


def test_cli_bench_does_not_start_tensorflow_unless_asked(capsys, monkeypatch):
    def keras_loader(*args):
        raise AssertionError("bench started Keras without --keras")

    monkeypatch.setattr(cli, "_keras_loader", keras_loader)
    assert cli.main(["bench", DEMO, "--batch-sizes", "1"]) == 0
    out = capsys.readouterr()
    assert "Keras tf.function" not in out.out and out.err == ""


def test_public_exceptions_are_exported():
    for name in ("ModelFormatError", "UnsupportedLayerError", "LoadTimeoutError", "StreamError"):
        exc = getattr(pyrnn, name)
        assert issubclass(exc, ValueError) and exc.__module__ == "pyrnn.errors" and name in pyrnn.__all__


def test_importing_from_the_source_checkout_explains_the_shadowing():
    """`cd pyrnn-checkout && python -c "import pyrnn"` finds the source tree first, which has no compiled core."""
    if not os.path.isfile(os.path.join(ROOT, "pyrnn", "__init__.py")):
        pytest.skip("not run from a source checkout")
    if any(f.startswith("_core.") and not f.endswith(".pyi") for f in os.listdir(os.path.join(ROOT, "pyrnn"))):
        pytest.skip("this checkout holds a compiled core (an in-place build)")
    r = subprocess.run([sys.executable, "-c", "import pyrnn"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0
    assert "This is probably the pyrnn source checkout" in r.stderr and "run Python from another directory" in r.stderr


def test_the_test_tools_are_installed_where_their_compilers_are():
    """The sanitizer and CUDA-compile tests must run, not skip, where cmake + a compiler + libasan or nvcc
    exist: the [test] extra installs pybind11 for them (a missing pybind11 once made them skip silently)."""
    if not (shutil.which("nvcc") or shutil.which("cmake")):
        pytest.skip("neither nvcc nor cmake is installed: those tests skip for that reason")
    import pybind11

    assert os.path.isdir(pybind11.get_include())
    assert os.path.isdir(pybind11.get_cmake_dir())


def test_readme_usage_type_checks_strictly():
    """`mypy --strict` on a user script written from the README's examples: the public API is typed
    (load's path, from_keras returning the class it is called on, Model.stream returning a Stream, ...)."""
    pytest.importorskip("mypy")
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "typing")
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-incremental", "readme_usage.py"],
                       cwd=here, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
