"""Model.predict(verbose=1): tqdm.auto when installed, the built-in bar on a terminal without it, and
plain lines (never a carriage-return bar) when stderr is not a terminal."""

from __future__ import annotations

import io
import os
import sys
import types

import numpy as np
import pytest

import pyrnn

DEMO = os.path.join(os.path.dirname(os.path.abspath(pyrnn.__file__)), "data", "demo_sunspots.keras")


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeTqdm:
    """Records what a tqdm bar is asked to do."""

    made: list = []

    def __init__(self, total=None, **kw):
        self.total, self.kw, self.n, self.closed = total, kw, 0, False
        FakeTqdm.made.append(self)

    def update(self, n=1):
        self.n += n

    def close(self):
        self.closed = True


@pytest.fixture(scope="module")
def model():
    return pyrnn.load(DEMO)


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(100, 24, 1)).astype(np.float32)


def _install_tqdm(monkeypatch, notebook=False):
    FakeTqdm.made = []
    auto = types.ModuleType("tqdm.auto")
    cls = FakeTqdm
    if notebook:
        nb = types.ModuleType("tqdm.notebook")
        nb.tqdm = type("tqdm_notebook", (FakeTqdm,), {})
        monkeypatch.setitem(sys.modules, "tqdm.notebook", nb)
        cls = type("tqdm", (nb.tqdm,), {})
    auto.tqdm = cls
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", auto)


def _no_tqdm(monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm.auto raises ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)


def test_tqdm_on_a_terminal(monkeypatch, model, x):
    _install_tqdm(monkeypatch)
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    np.testing.assert_array_equal(model.predict(x, batch_size=30, verbose=1), model.predict(x))
    (bar,) = FakeTqdm.made
    assert bar.total == 100 and bar.n == 100 and bar.closed and bar.kw["file"] is err
    assert err.getvalue() == ""  # the bar drew everything


def test_tqdm_widget_in_a_notebook(monkeypatch, model, x):
    _install_tqdm(monkeypatch, notebook=True)
    monkeypatch.setattr(sys, "stderr", io.StringIO())  # a kernel's stderr is not a terminal
    model.predict(x, verbose=1)
    (bar,) = FakeTqdm.made
    assert bar.n == 100 and bar.closed


def test_builtin_bar_on_a_terminal_without_tqdm(monkeypatch, model, x):
    _no_tqdm(monkeypatch)
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    model.predict(x, batch_size=30, verbose=1)
    out = err.getvalue()
    assert out.count("\r") == 4 and "\r100/100 [" in out and out.endswith("\n")


@pytest.mark.parametrize("with_tqdm", [True, False])
def test_plain_lines_when_stderr_is_not_a_terminal(monkeypatch, model, x, with_tqdm):
    if with_tqdm:
        _install_tqdm(monkeypatch)
    else:
        _no_tqdm(monkeypatch)
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    model.predict(x, batch_size=3, verbose=1)  # 34 chunks: at most ~11 lines, no redraws
    lines = err.getvalue().splitlines()
    assert "\r" not in err.getvalue()
    assert 2 <= len(lines) <= 11 and lines[-1].startswith("predict: 100/100 rows (100%)")
    assert lines[0].startswith("predict: 3/100 rows")
    if with_tqdm:
        assert FakeTqdm.made == []
    err.truncate(0), err.seek(0)
    model.predict(x, verbose=1)  # one chunk: one line
    assert err.getvalue().count("\n") == 1 and err.getvalue().startswith("predict: 100/100 rows")


def test_real_tqdm_draws_on_a_terminal(monkeypatch, model, x):
    pytest.importorskip("tqdm")
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    model.predict(x, batch_size=50, verbose=1)
    assert "100/100" in err.getvalue() and "rows" in err.getvalue()

