"""The sdist holds exactly what a build needs; the wheel check itself is .ci/wheel_check.sh
(a full build, ~3 min), which also checks the wheel's contents with dist_contents.py."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))

import dist_contents  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


def test_sdist_holds_what_a_build_needs(tmp_path):
    pytest.importorskip("scikit_build_core")
    if subprocess.run(["git", "rev-parse"], cwd=REPO, capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    # The PEP 517 hook pip and `python -m build` call, in a child (it chdirs and may print).
    code = "import sys; from scikit_build_core.build import build_sdist; print(build_sdist(sys.argv[1]))"
    p = subprocess.run([sys.executable, "-c", code, str(tmp_path)], cwd=REPO, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr[-3000:]
    sdist = tmp_path / p.stdout.strip().splitlines()[-1]
    names = dist_contents.sdist_names(sdist)
    files = dist_contents.tracked()
    # Untracked files of a working checkout (other people's scratch) are not this test's concern.
    untracked = set(subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=REPO,
                                   capture_output=True, text=True).stdout.split())
    names = [n for n in names if n not in untracked]
    assert dist_contents.check_sdist_names(names, files) == []
    with tarfile.open(sdist) as tar:
        assert any(m.name.endswith("/csrc/runtime/platform.cc") for m in tar.getmembers())


def test_checker_flags_extra_and_missing_files():
    files = ["csrc/a.cc", "pyrnn/__init__.py", "pyrnn/py.typed", "pyrnn/_core.pyi", "bench/results/compare.png",
             "tests/test_x.py", "README.md"]
    problems = dist_contents.check_sdist_names(["csrc/a.cc", "pyrnn/__init__.py", "bench/results/compare.png",
                                                "PKG-INFO"], files)
    assert "sdist: missing pyrnn/py.typed" in problems and "sdist: missing README.md" in problems
    assert "sdist: not needed for a build: bench/results/compare.png" in problems
    wheel = dist_contents.check_wheel_names(["pyrnn/__init__.py", "pyrnn/py.typed", "tests/test_x.py"], files)
    assert "wheel: missing pyrnn/_core.pyi" in wheel and "wheel: unexpected tests/test_x.py" in wheel
    assert any("one compiled pyrnn/_core" in w for w in wheel)
