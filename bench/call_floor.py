"""The fixed cost of a call: how long pyrnn takes when the arithmetic is (almost) nothing.

    python bench/call_floor.py            # PYRNN_ISA=avx2 / generic to force a tier

(a) SimpleRNN(1), T=1, batch 1: ``model.predict(x)`` and ``model.predict(x, out=...)``
(b) LSTM(50) T=49 F=1 -> Dense(46, softmax), batch 1: ``predict`` with and without ``out=``
(c) LSTM(50) -> Dense(1), batch 1: ``stream.step(x_t)`` and ``stream.step(x_t, out=...)``

and the pieces under them: the native fast entries alone (``_core.FastRun``, which
``predict`` tries first, and ``_core.Stream.fast_step``, which ``step`` tries first) and the
general native calls (``_core.Graph.run`` / ``_core.Stream.step``, lists in and out).
Models are built with Keras (random weights, seed 0), saved to a temporary .keras file and
loaded with ``pyrnn.load``. Each figure is the median over rounds of the mean per call
within a round (``time.perf_counter_ns``), after a warm-up.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from typing import Callable, List

import numpy as np
from _machine import cpu_name  # bench/, the script's own folder

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def per_call_us(fn: Callable[[], object], calls: int, rounds: int = 15) -> float:
    """Median over ``rounds`` of the mean time per call (µs) in a round of ``calls // rounds``."""
    inner = max(1, calls // rounds)
    for _ in range(min(inner, 2000)):  # warm-up
        fn()
    times: List[float] = []
    for _ in range(rounds):
        t0 = time.perf_counter_ns()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter_ns() - t0) / inner / 1e3)
    return statistics.median(times)


def build(tmp: str):
    import keras

    keras.utils.set_random_seed(0)
    models = {
        "simplernn1": keras.Sequential([keras.Input((1, 1)), keras.layers.SimpleRNN(1)]),
        "lstm50_dense46": keras.Sequential([keras.Input((49, 1)), keras.layers.LSTM(50),
                                           keras.layers.Dense(46, activation="softmax")]),
        "lstm50_dense1": keras.Sequential([keras.Input((None, 1)), keras.layers.LSTM(50), keras.layers.Dense(1)]),
    }
    paths = {}
    for name, m in models.items():
        paths[name] = os.path.join(tmp, name + ".keras")
        m.save(paths[name])
    return paths


def main() -> int:
    import pyrnn

    with tempfile.TemporaryDirectory() as tmp:
        paths = build(tmp)
        m_a = pyrnn.load(paths["simplernn1"])
        m_b = pyrnn.load(paths["lstm50_dense46"])
        m_c = pyrnn.load(paths["lstm50_dense1"])
    from pyrnn._config import config

    isa = config()["isa"]
    print(f"CPU: {cpu_name()}; ISA tier: {isa}; pyrnn threads: {pyrnn.get_num_threads()}")

    rows = []
    xa = np.ones((1, 1, 1), np.float32)
    xb = np.random.default_rng(0).standard_normal((1, 49, 1)).astype(np.float32)
    xc = np.ones((1, 1), np.float32)
    has_out = "out" in m_a.predict.__code__.co_varnames

    rows.append(("(a) SimpleRNN(1) T=1 b1: predict(x)", per_call_us(lambda: m_a.predict(xa), 60000)))
    if has_out:
        ya = np.empty((1, 1), np.float32)
        rows.append(("(a)   predict(x, out=y)", per_call_us(lambda: m_a.predict(xa, out=ya), 60000)))
    fa = getattr(m_a, "_fast_run", None)
    if fa is not None:
        rows.append(("(a)   _core.FastRun(x) (the fast entry alone)", per_call_us(lambda: fa(xa, None), 60000)))
    ga = m_a._graph
    rows.append(("(a)   _core.Graph.run([x]) (no Python wrapper)", per_call_us(lambda: ga.run([xa]), 60000)))

    rows.append(("(b) LSTM(50) T=49 -> Dense(46) b1: predict(x)", per_call_us(lambda: m_b.predict(xb), 20000)))
    if has_out:
        yb = np.empty((1, 46), np.float32)
        rows.append(("(b)   predict(x, out=y)", per_call_us(lambda: m_b.predict(xb, out=yb), 20000)))

    s = m_c.stream(batch_size=1)
    rows.append(("(c) LSTM(50) -> Dense(1) b1: stream.step(x_t)", per_call_us(lambda: s.step(xc), 60000)))
    if has_out:
        yc = np.empty((1, 1), np.float32)
        rows.append(("(c)   stream.step(x_t, out=y)", per_call_us(lambda: s.step(xc, out=yc), 60000)))
    nat = s._native
    fs = getattr(s, "_fast_step", None)
    if fs is not None:
        rows.append(("(c)   _core.Stream.fast_step(x_t) (the fast entry alone)",
                     per_call_us(lambda: fs(xc, None), 60000)))
    rows.append(("(c)   _core.Stream.step (no Python wrapper)",
                     per_call_us(lambda: nat.step([xc], [True], [True]), 60000)))
    rows.append(("(-) Python floor: len([]) call", per_call_us(lambda: len(()), 60000)))

    w = max(len(r[0]) for r in rows)
    for name, us in rows:
        print(f"{name:<{w}}  {us:8.2f} µs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
