"""The typed surface of the native core: pyrnn/_core.pyi must match the built module.

``mypy.stubtest`` imports pyrnn._core and compares every name, class, enum member and
(where pybind11 exposes one) signature with the stub. The allowlist next to this file
lists what the stub declares but only some builds have (the CUDA bindings).
"""

import ast
import os
import subprocess
import sys

import pytest

pytest.importorskip("mypy.stubtest")

HERE = os.path.dirname(os.path.abspath(__file__))


def test_core_stub_matches_the_built_module(tmp_path):
    allowlist = os.path.join(HERE, "stubtest_allowlist.txt")
    cmd = [sys.executable, "-m", "mypy.stubtest", "pyrnn._core", "--allowlist", allowlist,
           "--mypy-config-file", os.path.join(os.path.dirname(HERE), "pyproject.toml"),
           "--ignore-unused-allowlist"]  # a CUDA build has what the allowlist excuses
    # Run from an empty directory so the checked pyrnn is the installed one, not the source tree.
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"stubtest found differences:\n{proc.stdout}\n{proc.stderr}"


def _split_top_level(params: str):
    """Splits a pybind11 parameter list on the commas outside brackets."""
    parts, depth, cur = [], 0, ""
    for ch in params:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == "," and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    return [p for p in parts + [cur.strip()] if p]


def _runtime_params(doc: str):
    """(name, keyword-only, has default) per parameter, from pybind11's signature line."""
    head = doc.splitlines()[0]
    inner = head[head.index("(") + 1: head.rindex(") ->")]
    params, kw_only = [], False
    for p in _split_top_level(inner):
        if p == "*":
            kw_only = True
            continue
        name = p.split(":")[0].strip()
        if name != "self":
            params.append((name, kw_only, "=" in p))
    return params


def _stub_params(fn: ast.FunctionDef):
    a = fn.args
    pos = [x.arg for x in a.args if x.arg != "self"]
    n_def = len(a.defaults)
    out = [(name, False, i >= len(pos) - n_def) for i, name in enumerate(pos)]
    out += [(x.arg, True, d is not None) for x, d in zip(a.kwonlyargs, a.kw_defaults)]
    return out


def test_core_stub_signatures_match_pybind11():
    """stubtest cannot read pybind11 signatures (no __text_signature__), so compare each
    stub function's parameters (names, order, keyword-only, defaults) with the signature
    line pybind11 writes into the docstring."""
    from pyrnn import _core

    stub = ast.parse(open(os.path.join(os.path.dirname(_core.__file__), "_core.pyi")).read())
    checked, problems = 0, []

    def check(fn: ast.FunctionDef, runtime) -> None:
        nonlocal checked
        doc = getattr(runtime, "__doc__", None) or ""
        if not doc or "(" not in doc.splitlines()[0]:
            return
        checked += 1
        got, want = _runtime_params(doc), _stub_params(fn)
        if got != want:
            problems.append(f"{fn.name}: runtime {got}\n    stub {want}")

    for node in stub.body:
        if isinstance(node, ast.FunctionDef) and hasattr(_core, node.name):
            check(node, getattr(_core, node.name))
        elif isinstance(node, ast.ClassDef) and hasattr(_core, node.name):
            cls = getattr(_core, node.name)
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and not item.decorator_list and hasattr(cls, item.name):
                    check(item, getattr(cls, item.name))
    assert not problems, "\n".join(problems)
    assert checked >= 30, f"only {checked} signatures compared"
