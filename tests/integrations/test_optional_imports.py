"""The integrations stay optional: `import pyrnn` imports none of their libraries, and a missing one gives an
ImportError naming the extra to install."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

import pyrnn

INSTALLED = os.path.dirname(os.path.abspath(pyrnn.__file__))  # run there: never the source checkout


def test_import_pyrnn_imports_no_integration_library():
    code = ("import sys, pyrnn\nprint([m for m in ('dask', 'distributed', 'sklearn', 'tqdm', 'threadpoolctl', "
            "'pandas', 'joblib') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=INSTALLED)
    assert out.stdout.strip() == "[]"
    assert "BatchPredictor" in pyrnn.__all__


@pytest.mark.parametrize(("module", "missing", "extra"), [("pyrnn.dask", "dask", "pyrnn[dask]"),
                                                           ("pyrnn.sklearn", "sklearn", "pyrnn[sklearn]")])
def test_a_missing_library_names_the_extra(monkeypatch, module, missing, extra):
    for name in [m for m in sys.modules if m == missing or m.startswith(missing + ".")] or [missing]:
        monkeypatch.setitem(sys.modules, name, None)  # as if it were not installed (submodules too)
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(ImportError, match=rf'pip install "{extra}"'.replace("[", r"\[").replace("]", r"\]")):
        importlib.import_module(module)
