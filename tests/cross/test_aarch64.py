"""pyrnn cross-compiled for Linux aarch64 and run under qemu-user (.ci/aarch64_check.sh).

The C++ core is built with g++-aarch64-linux-gnu through CMakeLists.txt; Debian's arm64 Python
runs `pyrnn selftest`, tests/layers/test_oracle_parity.py (the float64-oracle parity set) and
tests/layers/test_bad_input.py under qemu-aarch64. A correctness check, not a benchmark. Needs apt packages and an arm64
sysroot (`.ci/aarch64_check.sh --setup`, as root), so it runs only when asked: pytest -m cross.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.cross

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / ".ci" / "aarch64_check.sh"


def test_aarch64_oracle_parity_under_qemu():
    for tool in ("aarch64-linux-gnu-g++", "qemu-aarch64", "cmake"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not found: run .ci/aarch64_check.sh --setup (as root) first")
    root = Path(os.environ.get("PYRNN_ARM64_ROOT", Path.home() / ".cache" / "pyrnn-arm64"))
    if not (root / "root" / "usr" / "bin" / "python3.11").exists():
        pytest.skip(f"no arm64 Python sysroot in {root}: run .ci/aarch64_check.sh --setup (as root) first")
    p = subprocess.run(["bash", str(SCRIPT)], cwd=REPO, capture_output=True, text=True, timeout=3600)
    if p.returncode == 77:
        pytest.skip(p.stdout.strip().splitlines()[-1])
    assert p.returncode == 0, f"{SCRIPT.name} failed (rc={p.returncode}):\n{p.stdout[-6000:]}\n{p.stderr[-3000:]}"
    assert "selftest passed" in p.stdout and re.search(r"\b\d+ passed\b", p.stdout), p.stdout[-3000:]
