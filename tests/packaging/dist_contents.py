"""What pyrnn's sdist and wheels must hold, checked against the git-tracked files.

    python tests/packaging/dist_contents.py dist/pyrnn-0.1.0.tar.gz wheelhouse/pyrnn-0.1.0-*.whl

Used by tests/packaging/test_dist.py (the sdist, built in-process) and .ci/wheel_check.sh (both).
Prints what it checked and exits 1 with the problems when something is missing or extra.
"""

from __future__ import annotations

import fnmatch
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parents[2]

# A build needs these and nothing else (pyproject.toml's sdist.exclude keeps the rest out).
SDIST_ROOTS = ("csrc/", "pyrnn/", "CMakeLists.txt", "pyproject.toml", "README.md", "LICENSE")
SDIST_GENERATED = {"PKG-INFO"}
NEVER = ["*.png", "*.so", "*.pyd", "*.dll", "*.o", "*/__pycache__/*", "*.pyc", "tests/*", "bench/*", "examples/*",
         ".ci/*", ".github/*", "build/*", "*/.hypothesis/*", "*/.benchmarks/*", "*/.pytest_cache/*"]


def tracked() -> List[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines() if line]


def check_sdist_names(names: List[str], files: List[str]) -> List[str]:
    """names: paths inside the sdist (without the pyrnn-X.Y/ prefix); files: git ls-files."""
    problems = []
    want = {f for f in files if f.startswith(SDIST_ROOTS)}
    have = set(names)
    for f in sorted(want - have):
        problems.append(f"sdist: missing {f}")
    for f in sorted(have - want - SDIST_GENERATED):
        problems.append(f"sdist: not needed for a build: {f}")
    for f in sorted(have):
        if any(fnmatch.fnmatch(f, pat) for pat in NEVER):
            problems.append(f"sdist: must not hold {f}")
    return problems


def check_wheel_names(names: List[str], files: List[str]) -> List[str]:
    problems = []
    package = {f for f in files if f.startswith("pyrnn/")}
    have = set(names)
    for f in sorted(package - have):
        problems.append(f"wheel: missing {f}")
    for must in ("pyrnn/py.typed", "pyrnn/_core.pyi", "pyrnn/data/demo_sunspots.keras", "pyrnn/data/demo_inputs.npy",
                 "pyrnn/data/demo_keras_outputs.npy"):
        if must not in have:
            problems.append(f"wheel: missing {must}")
    cores = [n for n in have if fnmatch.fnmatch(n, "pyrnn/_core.*") and n.endswith((".so", ".pyd"))]
    if len(cores) != 1:
        problems.append(f"wheel: expected one compiled pyrnn/_core extension, found {cores}")
    for f in sorted(have - package - set(cores)):
        top = f.split("/", 1)[0]
        if top.endswith(".dist-info") or top in ("pyrnn.libs", "pyrnn.dylibs"):  # metadata; auditwheel/delocate
            continue
        problems.append(f"wheel: unexpected {f}")
    for f in sorted(have):
        if any(fnmatch.fnmatch(f, pat) for pat in NEVER if pat not in ("*.so", "*.pyd", "*.dll")):
            problems.append(f"wheel: must not hold {f}")
    entry = [n for n in have if n.endswith(".dist-info/entry_points.txt")]
    if not entry:
        problems.append("wheel: no entry_points.txt (the pyrnn command)")
    return problems


def sdist_names(path: Path) -> List[str]:
    with tarfile.open(path) as tar:
        names = [m.name for m in tar.getmembers() if m.isfile()]
    return [n.split("/", 1)[1] for n in names if "/" in n]


def wheel_names(path: Path) -> List[str]:
    with zipfile.ZipFile(path) as z:
        return [n for n in z.namelist() if not n.endswith("/")]


def main(argv: List[str]) -> int:
    files = tracked()
    problems = []
    for arg in argv:
        p = Path(arg)
        if p.name.endswith(".tar.gz"):
            names = sdist_names(p)
            problems += check_sdist_names(names, files)
        elif p.suffix == ".whl":
            names = wheel_names(p)
            problems += check_wheel_names(names, files)
        else:
            problems.append(f"{p}: neither an sdist (.tar.gz) nor a wheel (.whl)")
            continue
        print(f"{p.name}: {len(names)} files, {p.stat().st_size / 1e6:.2f} MB")
    for line in problems:
        print("  " + line)
    print("contents OK" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
