"""Concurrency, ISA selection, and the kernels' own activation accuracy."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import TIERS, make_weights, rel_err

import pyrnn
from pyrnn import _core
from pyrnn.activations import resolve


def test_concurrent_calls_match_serial():
    rng = np.random.default_rng(0)
    layer = pyrnn.GRU(*make_weights("GRU", 8, 40, rng), return_sequences=True, return_state=True)
    inputs = [rng.normal(size=(int(rng.integers(1, 9)), 60, 8)).astype(np.float32) for _ in range(24)]
    masks = [rng.random(x.shape[:2]) > 0.2 for x in inputs]
    serial = [layer(x, mask=m) for x, m in zip(inputs, masks)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        for _ in range(3):
            parallel = list(pool.map(lambda a: layer(a[0], mask=a[1]), zip(inputs, masks)))
            for s, p in zip(serial, parallel):
                for a, b in zip(s, p):
                    np.testing.assert_array_equal(a, b)


def test_floating_point_mode_is_restored():
    """The kernels flush denormals internally; the caller's mode must come back unchanged."""
    tiny = np.float32(1e-39)  # a float32 denormal
    assert tiny * np.float32(1.0) != 0  # not flushed before
    pyrnn.LSTM(*make_weights("LSTM", 2, 3, np.random.default_rng(0)))(np.ones((1, 4, 2)))
    assert np.float32(1e-39) * np.float32(1.0) != 0  # nor after


def test_show_config(capsys):
    cfg = pyrnn.show_config()
    out = capsys.readouterr().out
    assert cfg["isa"] in cfg["isa_supported"] and "generic" in cfg["isa_compiled"]
    assert f"ISA tier in use    : {cfg['isa']}" in out and "CUDA" in out and cfg["version"] == pyrnn.__version__
    # The platform, and what the core was built for and with (a wheel's compiler is not this machine's).
    import platform

    assert platform.machine() in cfg["platform"] and platform.python_version() in cfg["python"]
    arch = {"AMD64": "x86_64", "arm64": "aarch64"}.get(platform.machine(), platform.machine())
    assert cfg["built_for"].endswith("-" + arch) and cfg["built_for"] in out
    assert cfg["compiler"].split()[0] in ("GCC", "Clang", "clang-cl", "MSVC") and cfg["compiler"] in out


def _run_python(code, **env):
    full = dict(os.environ, **env)
    # Run outside the source tree so the installed package is imported, not ./pyrnn.
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=120,
                          cwd=tempfile.gettempdir())


# Pool workers are pinned each to a CPU of its own, away from the calling thread's: left
# to itself, a small VM's scheduler kept the caller and the worker on one core for many
# calls in a row (two-thread calls at one thread's speed). The child reports the placement,
# which of its threads are held to one CPU, and whether its results equal one thread's.
_PLACEMENT_CHILD = """
import os, time, numpy as np, pyrnn
rng = np.random.default_rng(0)
layer = pyrnn.LSTM(rng.normal(size=(3, 256)).astype(np.float32) * 0.1,
                   rng.normal(size=(64, 256)).astype(np.float32) * 0.1, return_sequences=True)
x = rng.normal(size=(64, 20, 3)).astype(np.float32)
pyrnn.set_num_threads(1)
one = layer(x)
pyrnn.set_num_threads(2)
for _ in range(200):  # the worker registers when it has started: give it time
    two = layer(x)
    time.sleep(0.001)
assert np.array_equal(one, two)
pinned = [t for t in os.listdir("/proc/self/task") if len(os.sched_getaffinity(int(t))) == 1]
print(pyrnn.config()["thread_placement"])
print(len(pinned), sorted(os.sched_getaffinity(int(pinned[0])))[0] if pinned else -1)
"""

_linux_multicore = pytest.mark.skipif(
    not sys.platform.startswith("linux") or len(os.sched_getaffinity(0)) < 2,
    reason="thread pinning is Linux-only and needs two CPUs",
)


@_linux_multicore
def test_pool_worker_is_pinned_to_another_cpu_than_the_caller():
    r = _run_python(_PLACEMENT_CHILD)
    assert r.returncode == 0, r.stderr
    placement, counts = r.stdout.strip().splitlines()
    n, cpu = map(int, counts.split())
    assert n == 1, r.stdout  # the worker, and not the caller
    assert placement.startswith(f"workers pinned to CPU {cpu},") and "PYRNN_PIN_THREADS=0" in placement


@_linux_multicore
def test_pinning_off_by_env_and_when_cpus_are_too_few():
    r = _run_python(_PLACEMENT_CHILD, PYRNN_PIN_THREADS="0")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["left to the OS (PYRNN_PIN_THREADS=0)", "0 -1"]
    # One CPU allowed (every thread inherits it), two threads: nothing to pin to; still
    # correct (the child compares with one thread).
    cpu = min(os.sched_getaffinity(0))
    r = _run_python(f"import os; os.sched_setaffinity(0, {{{cpu}}})\n" + _PLACEMENT_CHILD)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[0] == "left to the OS (no more CPUs allowed than threads)"


@pytest.mark.parametrize("tier", TIERS)
def test_env_forces_tier(tier):
    r = _run_python("import pyrnn; print(pyrnn.config()['isa'])", PYRNN_ISA=tier)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == tier


def test_env_bad_value_is_a_clear_import_error():
    r = _run_python("import pyrnn", PYRNN_ISA="sse9")
    assert r.returncode != 0
    assert "unknown ISA tier 'sse9'; expected one of generic, avx2, avx512" in r.stderr
    assert "PYRNN_ISA" in r.stderr


def test_default_is_best_supported_tier():
    r = _run_python("import pyrnn; print(pyrnn.config()['isa'])", PYRNN_ISA="")
    assert r.stdout.strip() == _core.supported_isas()[-1]


def _ulp_error(got, ref):
    got = got.astype(np.float64)
    spacing = np.spacing(np.abs(ref).astype(np.float32)).astype(np.float64)
    return np.max(np.abs(got - ref) / spacing)


@pytest.mark.parametrize("n", [3, 4, 5, 7, 8, 9, 15, 16, 17, 33])
def test_vector_activations_accuracy_and_tails(isa, n):
    """sigmoid within 4 ulp over [-20, 20], at sizes below, at and above each vector width;
    tanh within 8 ulp and 5e-7 (Eigen's rational interpolant, the kind TensorFlow's CPU
    kernels use: TF's own tanh is 5.2 ulp from the exact value near |x| = 5), never
    outside [-1, 1]."""
    x = np.linspace(-20, 20, 4001 * n, dtype=np.float32).reshape(-1, n)
    x64 = x.astype(np.float64)
    sig = _core.activation(resolve("sigmoid"), x)
    th = _core.activation(resolve("tanh"), x)
    assert _ulp_error(sig, 1 / (1 + np.exp(-x64))) <= 4
    assert _ulp_error(th, np.tanh(x64)) <= 8
    assert np.max(np.abs(th - np.tanh(x64))) <= 5e-7
    assert np.max(np.abs(th)) <= 1.0
    # the kernel's own special values
    special = np.array([[0.0, -0.0, 100.0, -100.0, np.inf, -np.inf, np.nan, 1e-30]], np.float32)
    s = _core.activation(resolve("sigmoid"), special)[0]
    t = _core.activation(resolve("tanh"), special)[0]
    np.testing.assert_array_equal(s[[0, 2, 3, 4, 5]], [0.5, 1.0, 0.0, 1.0, 0.0])
    np.testing.assert_array_equal(t[[0, 2, 3, 4, 5]], [0.0, 1.0, -1.0, 1.0, -1.0])
    assert np.isnan(s[6]) and np.isnan(t[6])


def test_activation_hook_covers_every_code(isa):
    import oracle

    x = np.linspace(-4, 4, 35, dtype=np.float32).reshape(5, 7)
    for name in pyrnn.SUPPORTED_ACTIVATIONS:
        got = _core.activation(resolve(name), x)
        ref = oracle.act(name)(x.astype(np.float64))
        assert np.max(np.abs(got - ref) / np.maximum(1, np.abs(ref))) < 2e-6, name


@pytest.fixture
def threads():
    previous = pyrnn.get_num_threads()
    yield pyrnn.set_num_threads
    pyrnn.set_num_threads(previous)


@pytest.mark.parametrize("kind", ["SimpleRNN", "LSTM", "GRU"])
def test_results_identical_for_any_thread_count(isa, threads, kind):
    rng = np.random.default_rng(1)
    w = make_weights(kind, 12, 70, rng)
    x = rng.normal(size=(37, 45, 12)).astype(np.float32)
    mask = rng.random((37, 45)) > 0.2
    layer = getattr(pyrnn, kind)(*w, return_sequences=True, return_state=True)
    bi = pyrnn.Bidirectional(getattr(pyrnn, kind)(*w, return_sequences=True),
                             getattr(pyrnn, kind)(*w, return_sequences=True, go_backwards=True))
    results = []
    for n in (1, 2, 3, 8):
        threads(n)
        assert pyrnn.get_num_threads() == n
        results.append((layer(x, mask=mask), bi(x, mask=mask)))
    for got in results[1:]:
        for a, b in zip(got[0], results[0][0]):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(got[1], results[0][1])


def test_set_num_threads_validates(threads):
    with pytest.raises(ValueError, match="must be >= 1, got 0"):
        threads(0)
    with pytest.raises(TypeError, match="expects an int"):
        threads(2.5)
    assert pyrnn.config()["threads"] == pyrnn.get_num_threads() >= 1


def test_pool_survives_fork():
    """A forked child has the pool's memory but not its threads; it must not hang."""
    code = (
        "import multiprocessing as mp, numpy as np, pyrnn\n"
        "rng = np.random.default_rng(0)\n"
        "w = [rng.normal(size=(8, 256)).astype('f4'), (rng.normal(size=(64, 256)) / 8).astype('f4'), None]\n"
        "layer = pyrnn.LSTM(*w); pyrnn.set_num_threads(2)\n"
        "x = rng.normal(size=(32, 50, 8)).astype('f4'); ref = layer(x)\n"
        "def child(_): return float(np.abs(layer(x) - ref).max())\n"
        "with mp.get_context('fork').Pool(2) as p: print(max(p.map(child, range(4))))\n"
    )
    r = _run_python(code)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout.strip()) == 0.0


# Batches too small to split by rows, with enough arithmetic per step, run as a team that
# splits the units (and the tail of H % 16 units) across threads, meeting once per step.
TEAM_CASES = [
    ("LSTM", 1, 120, {}),
    ("LSTM", 3, 120, {"go_backwards": True}),
    ("GRU", 12, 150, {}),
    ("GRU", 12, 150, {"reset_after": False}),
    ("SimpleRNN", 12, 320, {}),
]


@pytest.mark.parametrize("kind,features,units,options", TEAM_CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("batch", [1, 2, 7])
def test_unit_split_team_is_thread_invariant_and_exact(isa, threads, kind, features, units, options, batch):
    import oracle

    rng = np.random.default_rng(batch)
    w = make_weights(kind, features, units, rng, reset_after=options.get("reset_after", True))
    x = rng.normal(size=(batch, 49, features)).astype(np.float32)
    mask = rng.random((batch, 49)) > 0.25
    states = [rng.normal(size=(batch, units)).astype(np.float32) for _ in range(2 if kind == "LSTM" else 1)]
    layer = getattr(pyrnn, kind)(*w, return_sequences=True, return_state=True, **options)
    results = []
    for n in (1, 2, 3, 8):
        threads(n)
        results.append([layer(x, mask=mask, initial_state=states), layer(x)])
    for got in results[1:]:
        for run, ref in zip(got, results[0]):
            for a, b in zip(run, ref):
                np.testing.assert_array_equal(a, b)
    ref = oracle.rnn(kind, x, *w, mask=mask, initial_state=states, return_sequences=True, return_state=True,
                     **options)
    for a, b in zip(results[1][0], ref):
        assert rel_err(a, b) <= 1e-5
    # Teams from several Python threads at once (the pool serves one; the rest run alone).
    threads(2)
    with ThreadPoolExecutor(max_workers=4) as pool:
        for got in pool.map(lambda _: layer(x, mask=mask, initial_state=states), range(8)):
            for a, b in zip(got, results[0][0]):
                np.testing.assert_array_equal(a, b)


# Recurrent weights larger than one core's L2 (2 MiB on the project's machine) run as a
# team at any batch, each member streaming its half of the weights once per row block
# (weights-outer GEMM). Each row must match the same row computed alone, for any batch
# and thread count.
# Such an LSTM is stacked ([1, x_t, h] @ [b; W; U]) whatever its input width; with a mask,
# initial states and go_backwards too.
BIG_CASES = [
    ("LSTM", 20, 400, {}),
    ("LSTM", 33, 400, {"go_backwards": True}),
    ("LSTM", 2, 400, {}),
    ("GRU", 3, 480, {"reset_after": False}),
]


@pytest.mark.parametrize("kind,features,units,options", BIG_CASES, ids=lambda v: str(v))
def test_weights_beyond_l2_are_batch_and_thread_invariant(isa, threads, kind, features, units, options):
    import oracle

    rng = np.random.default_rng(7)
    w = make_weights(kind, features, units, rng, reset_after=options.get("reset_after", True))
    x = rng.normal(size=(13, 6, features)).astype(np.float32)
    mask = rng.random((13, 6)) > 0.3
    states = [rng.normal(size=(13, units)).astype(np.float32) for _ in range(2 if kind == "LSTM" else 1)]
    layer = getattr(pyrnn, kind)(*w, return_sequences=True, return_state=True, **options)

    def run(b0, b1):
        return layer(x[b0:b1], mask=mask[b0:b1], initial_state=[s[b0:b1] for s in states])

    threads(1)
    alone = [np.concatenate(parts) for parts in zip(*[run(b, b + 1) for b in range(13)])]
    for n in (1, 2, 3):
        threads(n)
        for batch in (2, 5, 13):
            for got, ref in zip(run(0, batch), alone):
                np.testing.assert_array_equal(got, ref[:batch])
    ref = oracle.rnn(kind, x, *w, mask=mask, initial_state=states, return_sequences=True, return_state=True,
                     **options)
    for got, want in zip(alone, ref):
        assert rel_err(got, want) <= 1e-5
