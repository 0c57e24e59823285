"""AddressSanitizer + UndefinedBehaviorSanitizer run of the native core.

Builds ``pyrnn._core`` with ``-DPYRNN_SANITIZE=ON -DPYRNN_WERROR=ON`` (warnings are errors) into a
temporary directory, installs it with a copy of the Python package into a throw-away virtual
environment that sees the current environment's packages, and runs the parity, bad-input,
threading/ISA, model-level and Keras suites there in a pytest subprocess with the ASan runtime
preloaded. Any sanitizer report, crash or test failure fails the test, with the report.

Phases (see ``pytest --durations``): the build is the setup of the first test that needs it
(about 1.5 min on 2 cores); then one test per group of suites.
Skipped (with the reason) where there is no cmake, C++ compiler, pybind11 or ASan runtime, or the
platform is not Linux x86-64.
"""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import subprocess
import sys
import textwrap
import time
import types
from importlib.util import find_spec
from pathlib import Path

import pytest

pytestmark = pytest.mark.sanitizer  # minutes of rebuild: run with `pytest -m sanitizer` (.ci/run does)

TESTS = Path(__file__).resolve().parent.parent
REPO = TESTS.parent
SAN_FLAGS = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", "-g"]

# TF-free: the float64 oracle parity suite (all cells, masks, go_backwards, bidirectional, every ISA
# tier through the `isa` fixture, hypothesis shapes), bad input, threads/ISA (incl. PYRNN_ISA in
# subprocesses and fork) and whole-model checks on the shipped demo model.
CORE_SUITES = ["layers/test_oracle_parity.py", "layers/test_compute_types.py", "layers/test_bad_input.py",
               "reliability/test_threads_and_isa.py", "_sanitized_run.py"]
# Need TensorFlow/Keras to build the models they load: Keras parity, the model zoo (loader, native
# graph, CLI), streaming/stateful models, loader errors, from_keras, and out= / the call floor.
# Not test_fuzz_files.py: its loader sandbox sets RLIMIT_AS = 4 GiB, and an ASan process (terabytes of
# reserved shadow memory) then cannot map anything ("ERROR: Failed to mmap"); it would also take more
# than 4 minutes under ASan. _sanitized_run.py has a small damaged-file check instead.
MODEL_SUITES = ["layers/test_keras_parity.py", "models/test_zoo.py", "streaming/test_streaming.py",
                "models/test_model_errors.py", "layers/test_keras_interop.py", "reliability/test_call_floor.py"]

SANITIZER_REPORT = re.compile(
    r"ERROR: AddressSanitizer|AddressSanitizer: CHECK failed|ERROR: LeakSanitizer|: runtime error: "
    r"|UndefinedBehaviorSanitizer"
)
MARKER = "PYRNN-SANITIZED-CORE:"

CHECK_PLUGIN = '''\
"""pytest plugin for tests/reliability/test_sanitizers.py: refuse to run unless pyrnn is the sanitized build."""
import os

import pytest


def pytest_configure(config):
    import pyrnn
    from pyrnn import _core

    want = os.path.realpath(os.environ["PYRNN_SANITIZED_SITE"]) + os.sep
    got = [os.path.realpath(pyrnn.__file__), os.path.realpath(_core.__file__)]
    if not all(p.startswith(want) for p in got):
        raise pytest.UsageError(f"pyrnn / pyrnn._core imported from {got}, not the sanitized build in {want}")
    with open(_core.__file__, "rb") as fh:
        blob = fh.read()
    if b"__asan_init" not in blob or b"__ubsan_handle_" not in blob:
        raise pytest.UsageError(f"{_core.__file__} is not instrumented with ASan + UBSan")
    print("''' + MARKER + ''' " + _core.__file__ + " isa=" + _core.current_isa(), flush=True)
'''

CANARY = r"""
#include <climits>
#include <cstdlib>
extern "C" int ubsan_canary(int x) { return x + INT_MAX; }
extern "C" int asan_canary(int i) {
  int* p = static_cast<int*>(std::malloc(4 * sizeof(int)));
  volatile int v = p[i];
  std::free(p);
  return v;
}
"""


def _out(cmd, **kw):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60, **kw)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() if r.returncode == 0 else None


def _runtime(cxx, name):
    """Absolute path of a runtime library the compiler would link, or None."""
    p = _out([cxx, f"-print-file-name={name}"])
    if p and os.path.isabs(p) and os.path.exists(p):
        return os.path.realpath(p)
    return None


@pytest.fixture(scope="session")
def toolchain():
    if sys.platform != "linux" or platform.machine() not in ("x86_64", "AMD64", "amd64"):
        pytest.skip(f"sanitizer build is checked on Linux x86-64 only (this is {sys.platform} {platform.machine()})")
    cmake = shutil.which("cmake")
    if cmake is None:
        pytest.skip("cmake not found")
    cxx = next((c for c in (os.environ.get("CXX"), "c++", "g++", "clang++") if c and shutil.which(c)), None)
    if cxx is None:
        pytest.skip("no C++ compiler found")
    cxx = shutil.which(cxx)
    version = _out([cxx, "--version"]) or ""
    if "clang" in version.lower():
        kind = "clang"
        asan = _runtime(cxx, "libclang_rt.asan-x86_64.so")
        if asan is None:
            rt_dir = _out([cxx, "--print-runtime-dir"])
            cand = os.path.join(rt_dir or "", "libclang_rt.asan.so")
            asan = cand if rt_dir and os.path.exists(cand) else None
    elif "free software foundation" in version.lower() or "g++" in version or "gcc" in version.lower():
        kind = "gcc"
        asan = _runtime(cxx, "libasan.so")
    else:
        pytest.skip(f"{cxx} is neither gcc nor clang: {version.splitlines()[:1]}")
    if asan is None:
        pytest.skip(f"the AddressSanitizer runtime is not installed for {cxx}")
    try:
        import pybind11

        pybind11_dir = pybind11.get_cmake_dir()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"pybind11's CMake files are unavailable: {exc}")
    if not pybind11_dir or not os.path.isdir(pybind11_dir):
        pytest.skip("pybind11's CMake files are unavailable")
    # The Python binary does not link libstdc++: preload it after ASan, or ASan's __cxa_throw
    # interceptor finds no real __cxa_throw and aborts on the first C++ exception.
    stdcxx = _runtime(cxx, "libstdc++.so") or "libstdc++.so.6"
    return types.SimpleNamespace(cmake=cmake, cxx=cxx, kind=kind, asan=asan, stdcxx=stdcxx,
                                 pybind11_dir=pybind11_dir)


def _env(tc, logs: Path, **extra):
    env = dict(os.environ)
    for k in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYRNN_ISA"):
        env.pop(k, None)
    logs.mkdir(parents=True, exist_ok=True)
    env.update(
        LD_PRELOAD=f"{tc.asan} {tc.stdcxx}",
        # Python itself leaks at exit: leak checking is out of scope. ASan reports go to files (so
        # reports from every child process are seen); UBSan's to stderr.
        ASAN_OPTIONS=f"detect_leaks=0:abort_on_error=1:halt_on_error=1:log_path={logs}/asan",
        UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:abort_on_error=1",
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES="-1",
        PYTHONDONTWRITEBYTECODE="1",  # nothing cached in the source tree
        PYTHONFAULTHANDLER="1",
        **extra,
    )
    return env


def _reports(output: str, logs: Path) -> str:
    """Sanitizer reports: the log files, else matching lines of the output."""
    texts = []
    for f in sorted(glob.glob(str(logs / "*"))):
        text = Path(f).read_text(errors="replace")
        if text.strip():
            texts.append(f"--- {f}\n{text}")
    if texts:
        return "\n".join(texts)
    m = SANITIZER_REPORT.search(output)
    return output[max(0, m.start() - 500):] if m else ""


def _version():
    m = re.search(r'^version\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(), re.M)
    return m.group(1) if m else "0.1.0"


def _excerpt(log: str, limit: int = 8000) -> str:
    m = re.search(r"(error|warning)[: ]", log, re.I)
    start = max(0, (m.start() if m else len(log)) - 1500)
    head = log[start:start + limit]
    tail = log[-2000:] if start + limit < len(log) - 2000 else ""
    return head + ("\n[...]\n" + tail if tail else "")


@pytest.fixture(scope="session")
def sanitized(toolchain, tmp_path_factory):
    """Build the sanitized _core and a virtual environment whose pyrnn is that build."""
    tc = toolchain
    root = tmp_path_factory.mktemp("sanitizers")
    build = root / "build"
    t0 = time.perf_counter()
    configure = [
        tc.cmake, "-S", str(REPO), "-B", str(build),
        "-DCMAKE_BUILD_TYPE=RelWithDebInfo", "-DPYRNN_SANITIZE=ON", "-DPYRNN_WERROR=ON",
        f"-DSKBUILD_PROJECT_VERSION={_version()}", f"-Dpybind11_DIR={tc.pybind11_dir}",
        f"-DPython_EXECUTABLE={sys.executable}", f"-DCMAKE_CXX_COMPILER={tc.cxx}",
    ]
    jobs = str(max(2, min(8, os.cpu_count() or 2)))
    for step, cmd in (("configure", configure), ("build", [tc.cmake, "--build", str(build), "-j", jobs])):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            pytest.fail(f"sanitized {step} failed (rc={r.returncode}; PYRNN_WERROR=ON: warnings are errors):\n"
                        f"$ {' '.join(cmd)}\n{_excerpt(r.stdout + r.stderr)}", pytrace=False)
    build_s = time.perf_counter() - t0
    sos = glob.glob(str(build / "_core*.so"))
    assert len(sos) == 1, f"expected one _core*.so in {build}, found {sos}"

    t0 = time.perf_counter()
    venv = root / "venv"
    # A fresh venv, not PYTHONPATH: some suites scrub PYTHONPATH for their subprocesses (to test the
    # installed package), and children must still import the sanitized build.
    r = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"could not create a virtual environment:\n{r.stdout}{r.stderr}"
    python = venv / "bin" / "python"
    site_dir = Path(_out([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]) or "")
    assert site_dir.is_dir(), f"no site-packages in {venv}"
    outer = [p for p in dict.fromkeys(sys.path)
             if p and os.path.isdir(p) and os.path.basename(p) in ("site-packages", "dist-packages")]
    # The current environment's packages (numpy, pytest, TF, ...) come after the venv's own pyrnn.
    (site_dir / "_pyrnn_outer_site.pth").write_text(
        "".join(f"import site; site.addsitedir({p!r})\n" for p in outer))
    pkg = site_dir / "pyrnn"
    pkg.mkdir()
    src = REPO / "pyrnn"
    for f in list(src.rglob("*.py")) + [src / "py.typed", src / "_core.pyi"]:  # subpackages too (pyrnn.convert)
        dest = pkg / f.relative_to(src)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)
    shutil.copytree(src / "data", pkg / "data", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy2(sos[0], pkg / Path(sos[0]).name)
    (site_dir / "_pyrnn_sanitized_check.py").write_text(CHECK_PLUGIN)
    script = venv / "bin" / "pyrnn"
    script.write_text(f"#!{python}\nimport sys\nfrom pyrnn.cli import main\nsys.exit(main())\n")
    script.chmod(0o755)
    (root / "pytest.ini").write_text(textwrap.dedent("""\
        [pytest]
        addopts =
        filterwarnings =
            ignore::DeprecationWarning
        markers =
            sanitizer: the sanitizer rebuild itself
        """))
    print(f"\nsanitized build: {build_s:.0f}s; venv + package: {time.perf_counter() - t0:.1f}s ({sos[0]})")
    return types.SimpleNamespace(root=root, python=str(python), site=str(site_dir), tc=tc, build_s=build_s)


def _run_suites(san, group, files, timeout):
    logs = san.root / f"logs-{group}"
    paths = [str(TESTS / f) for f in files]
    cmd = [san.python, "-m", "pytest", *paths, "-c", str(san.root / "pytest.ini"), f"--rootdir={REPO}",
           "--import-mode=importlib", "-p", "no:cacheprovider", "-p", "no:randomly", "-p", "_pyrnn_sanitized_check",
           "--capture=sys",  # fd 2 stays the real stderr: a report printed just before an abort is kept
           "-q", "-x", "-rfEs", "--durations=5"]
    t0 = time.perf_counter()
    try:
        r = subprocess.run(cmd, cwd=san.root, env=_env(san.tc, logs, PYRNN_SANITIZED_SITE=san.site),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
        output, rc = r.stdout, r.returncode
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        pytest.fail(f"sanitized {group} suites did not finish in {timeout}s:\n{out[-4000:]}", pytrace=False)
    elapsed = time.perf_counter() - t0
    print(f"\nsanitized {group} suites: {elapsed:.0f}s, rc={rc}\n" + "\n".join(output.strip().splitlines()[-8:]))
    reports = _reports(output, logs)
    assert not reports, f"sanitizer report from the {group} suites (rc={rc}):\n{reports[:6000]}\n" \
                        f"--- output tail:\n{output[-4000:]}"
    assert rc == 0, f"sanitized {group} suites failed (rc={rc}):\n{output[-4000:]}"
    assert MARKER in output, f"the sanitized-build check did not run:\n{output[-4000:]}"
    passed = re.search(r"(\d+) passed", output)
    assert passed and int(passed.group(1)) > 0, f"nothing passed:\n{output[-4000:]}"
    return output


def test_sanitizers_catch_planted_bugs(toolchain, tmp_path):
    """The runtime, the preload and the options really report: an out-of-bounds read and a signed
    overflow in a tiny instrumented library must each abort with a report."""
    src = tmp_path / "canary.cc"
    src.write_text(CANARY)
    lib = tmp_path / "canary.so"
    r = subprocess.run([toolchain.cxx, "-shared", "-fPIC", "-O1", *SAN_FLAGS, "-fno-sanitize=object-size",
                        str(src), "-o", str(lib)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    for fn, want in (("asan_canary(4)", "ERROR: AddressSanitizer: heap-buffer-overflow"),
                     ("ubsan_canary(5)", ": runtime error: signed integer overflow")):
        logs = tmp_path / f"logs-{fn[:5]}"
        code = f"import ctypes; print(ctypes.CDLL({str(lib)!r}).{fn})"
        p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                           cwd=tmp_path, env=_env(toolchain, logs))
        found = _reports(p.stdout + p.stderr, logs)
        assert p.returncode != 0 and want in found, (
            f"{fn}: expected a sanitizer abort with {want!r}; rc={p.returncode}\n{found}\n{p.stderr[-3000:]}")


def test_core_suites_under_sanitizers(sanitized):
    """Oracle parity (every cell/option/ISA tier), bad input, threads/ISA and demo-model checks."""
    _run_suites(sanitized, "core", CORE_SUITES, timeout=600)


def test_model_suites_under_sanitizers(sanitized):
    """Keras parity, the model zoo (loader, native graph, CLI), streaming and loader errors."""
    if find_spec("tensorflow") is None or find_spec("keras") is None:
        pytest.skip("TensorFlow/Keras are not installed: the model suites build their models with Keras")
    files = [f for f in MODEL_SUITES if (TESTS / f).exists()]
    _run_suites(sanitized, "model", files, timeout=900)
