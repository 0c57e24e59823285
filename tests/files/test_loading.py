"""Loading valid files is never refused for lack of time, and the loader never forks a threaded process.

pyrnn.load reads a file in a helper process (a corrupt HDF5 structure can make libhdf5 loop forever in one C
call) under a limit counted in the helper's CPU time, so a busy machine does not make a valid file "corrupt".
None of these tests needs TensorFlow: the files are written with h5py and zipfile, or ship with pyrnn.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import subprocess
import sys
import threading
import time
import warnings

import fuzz_util as fu
import numpy as np
import pytest

import pyrnn
from pyrnn import _sandbox

DATA = os.path.join(os.path.dirname(os.path.abspath(pyrnn.__file__)), "data")
DEMO = os.path.join(DATA, "demo_sunspots.keras")
DEMO_X = os.path.join(DATA, "demo_inputs.npy")
DEMO_Y = os.path.join(DATA, "demo_keras_outputs.npy")


@pytest.fixture(scope="module")
def chains(tmp_path_factory):
    d = tmp_path_factory.mktemp("chains")
    return {n: fu.write_chain(str(d / f"chain{n}.keras"), n) for n in (2_000, 16_000)}


def _check_demo(model):
    y = model.predict(np.load(DEMO_X))
    ref = np.load(DEMO_Y)
    assert np.max(np.abs(y - ref)) <= 1e-5 * max(1.0, float(np.max(np.abs(ref))))


def _busy_processes(n: int, seconds: float):
    """n processes that keep a core each busy for at most `seconds` (they stop by themselves)."""
    code = f"import time\nend = time.time() + {seconds}\nwhile time.time() < end: pass\n"
    return [subprocess.Popen([sys.executable, "-c", code]) for _ in range(n)]


def test_valid_models_load_while_every_core_is_busy(chains):
    """The reported failure: with other CPU-bound processes running, a small LSTM file and a 16,000-layer
    chain were refused as corrupt. Here three CPU-bound processes per core compete with the load."""
    busy = _busy_processes(3 * (os.cpu_count() or 2), seconds=120)
    try:
        time.sleep(0.5)  # let them take the cores
        t0 = time.monotonic()
        _check_demo(pyrnn.load(DEMO))
        chain = pyrnn.load(chains[16_000])
        x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype(np.float32)
        np.testing.assert_array_equal(chain.predict(x), x)  # 16,000 linear activations: the identity
        wall = time.monotonic() - t0
    finally:
        for p in busy:
            p.kill()
            p.wait()
    print(f"loaded both in {wall:.1f} s of wall time on a busy machine")


def test_timeout_says_which_limit_fired_and_how_to_raise_it(chains):
    with pytest.raises(pyrnn.LoadTimeoutError) as info:
        pyrnn.load(chains[2_000], timeout=0.02)
    msg = str(info.value)
    assert msg.startswith("chain2000.keras: reading the file was stopped after ")
    assert "s of CPU time, the load time limit (timeout=0.02)" in msg
    assert "pyrnn.load(path, timeout=SECONDS)" in msg and "PYRNN_LOAD_TIMEOUT=SECONDS" in msg
    assert "PYRNN_LOAD_IN_PROCESS=1" in msg
    assert isinstance(info.value, pyrnn.ModelFormatError) and isinstance(info.value, TimeoutError)
    # the stopped helper is replaced: the next load works
    _check_demo(pyrnn.load(DEMO))
    assert pyrnn.load(chains[2_000], timeout=math.inf).count_params() == 0


def test_timeout_from_the_environment(chains, monkeypatch):
    monkeypatch.setenv("PYRNN_LOAD_TIMEOUT", "0.02")
    with pytest.raises(pyrnn.LoadTimeoutError, match=r"the load time limit \(PYRNN_LOAD_TIMEOUT=0.02\)"):
        pyrnn.load(chains[2_000])
    _check_demo(pyrnn.load(DEMO, timeout=60))  # the argument wins over the variable
    monkeypatch.setenv("PYRNN_LOAD_TIMEOUT", "soon")
    with pytest.raises(ValueError, match=r"PYRNN_LOAD_TIMEOUT='soon': expected a number of seconds"):
        pyrnn.load(DEMO)
    monkeypatch.setenv("PYRNN_LOAD_TIMEOUT", "inf")
    _check_demo(pyrnn.load(DEMO))


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "10", True])
def test_bad_timeout_values(bad):
    with pytest.raises(ValueError, match="timeout must be a positive number of CPU seconds"):
        pyrnn.load(DEMO, timeout=bad)


def test_default_limit_scales_with_the_file(chains):
    small, big = _sandbox.default_limit(DEMO), _sandbox.default_limit(chains[16_000])
    assert small >= 30.0
    assert big >= small + 30.0  # the 16,000-layer file is ~35 MB with a ~5 MB config


def test_load_after_predict_never_forks(monkeypatch):
    """Forking a process that runs threads (pyrnn's pool after a predict) can deadlock the child; Python
    3.12+ warns. The loader starts its helper with fork+exec (subprocess) and never calls os.fork."""
    model = pyrnn.load(DEMO)
    model.predict(np.load(DEMO_X))  # the pool's threads exist now
    worker = threading.Thread(target=time.sleep, args=(1.0,))
    worker.start()

    def no_fork():
        raise AssertionError("pyrnn.load called os.fork")

    monkeypatch.setattr(os, "fork", no_fork)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _check_demo(pyrnn.load(DEMO))
    worker.join()


def test_no_deprecation_warning_in_a_fresh_interpreter(tmp_path):
    """The same in a new interpreter with DeprecationWarnings as errors (on 3.12+ this catches
    'use of fork() may lead to deadlocks' from anywhere in pyrnn)."""
    code = (f"import numpy as np, pyrnn\nm = pyrnn.load({DEMO!r})\nm.predict(np.load({DEMO_X!r}))\n"
            f"m = pyrnn.load({DEMO!r})\nprint('ok')\n")
    r = subprocess.run([sys.executable, "-W", "error::DeprecationWarning", "-c", code], cwd=tmp_path,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-3000:]


def test_concurrent_loads_from_threads(chains):
    results, errors = [], []

    def load(path):
        try:
            results.append(pyrnn.load(path).count_params())
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=load, args=(p,)) for p in (DEMO, chains[2_000], DEMO, chains[2_000])]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(results) == [0, 0, 4385, 4385]


def test_a_dead_helper_is_replaced():
    pyrnn.load(DEMO)
    helper = _sandbox._helper
    assert helper is not None and helper.alive()
    helper.proc.kill()
    helper.proc.wait()
    _check_demo(pyrnn.load(DEMO))
    assert _sandbox._helper is not helper


def _load_in_child(queue):
    queue.put(pyrnn.load(DEMO).count_params())


@pytest.mark.filterwarnings("ignore:.*fork.*:DeprecationWarning")  # this test forks on purpose
def test_a_forked_child_starts_its_own_helper():
    pyrnn.load(DEMO)  # the parent's helper exists before the fork
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    p = ctx.Process(target=_load_in_child, args=(queue,))
    p.start()
    assert queue.get(timeout=120) == 4385
    p.join(60)
    assert p.exitcode == 0
    _check_demo(pyrnn.load(DEMO))  # the parent's helper is untouched


def test_in_process_reading(monkeypatch):
    monkeypatch.setenv("PYRNN_LOAD_IN_PROCESS", "1")
    monkeypatch.setattr(_sandbox, "_Helper", None)  # would fail if a helper were started
    _check_demo(pyrnn.load(DEMO))


def test_the_helper_caps_its_own_cpu_time():
    """If the process that started a helper dies while the helper loops inside libhdf5, nobody stops it; its
    RLIMIT_CPU, set for each read to the read's limit, makes the kernel end it instead."""
    pyrnn.load(DEMO, timeout=5.0)
    pid = _sandbox._helper.proc.pid
    with open(f"/proc/{pid}/limits") as fh:
        row = next(line for line in fh if line.startswith("Max cpu time"))
    soft = float(row.split()[3])
    assert soft <= _sandbox._cpu_seconds(pid) + 5.0 + 3.0, row
    pyrnn.load(DEMO, timeout=math.inf)
    with open(f"/proc/{pid}/limits") as fh:
        row = next(line for line in fh if line.startswith("Max cpu time"))
    assert row.split()[3] == "unlimited", row


def test_an_interrupted_load_leaves_no_stale_answer(chains, monkeypatch):
    """Ctrl-C while waiting for the helper: its answer to that request must not become the next load's."""
    pyrnn.load(DEMO)
    real = _sandbox._Helper.receive

    def interrupted(self, limit):
        raise KeyboardInterrupt

    monkeypatch.setattr(_sandbox._Helper, "receive", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pyrnn.load(chains[2_000])
    monkeypatch.setattr(_sandbox._Helper, "receive", real)
    _check_demo(pyrnn.load(DEMO))
    assert pyrnn.load(chains[2_000]).count_params() == 0


def test_the_windows_reader_thread_path(chains, monkeypatch):
    """Windows pipes cannot be select()ed, so there a thread reads the helper's answers into a queue
    (_Helper._pump / _wait_read). The same path, forced here on Linux: answers arrive whole, a timeout
    still fires on CPU time, and a helper that dies is reported as on Linux."""
    import queue

    original = _sandbox._Helper.__init__

    def with_reader_thread(self):
        original(self)
        self.chunks = queue.Queue()
        threading.Thread(target=self._pump, args=(self.proc.stdout, self.chunks), daemon=True).start()

    monkeypatch.setattr(_sandbox._Helper, "__init__", with_reader_thread)
    if _sandbox._helper is not None:
        _sandbox._helper.stop()
        _sandbox._helper = None
    _check_demo(pyrnn.load(DEMO))
    assert _sandbox._helper.chunks is not None
    assert pyrnn.load(chains[16_000]).count_params() == 0  # a larger answer, in several chunks
    with pytest.raises(pyrnn.LoadTimeoutError):
        pyrnn.load(chains[2_000], timeout=0.02)
    _check_demo(pyrnn.load(DEMO))
    _sandbox._helper.stop()
    _sandbox._helper = None  # the next test starts a plain helper
