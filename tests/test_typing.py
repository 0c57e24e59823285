"""The typed surface of the native core: pyrnn/_core.pyi must match the built module.

``mypy.stubtest`` imports pyrnn._core and compares every name, class, enum member and
(where pybind11 exposes one) signature with the stub. The allowlist next to this file
lists what the stub declares but only some builds have (the CUDA bindings).
"""

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
