"""Throughput (sequences/s) of pyrnn.dask.predict on 1 and 2 local Dask workers, against model.predict in one
process, on the demo model (`pyrnn demo`: LSTM(32) -> Dense(1) over 24 steps).

    python bench/dask_throughput.py [--rows 400000] [--chunk 20000] [--repeats 5] [--out FILE.md]

Inputs are generated on the workers (dask.array.random) and persisted there before timing, so the timing covers
prediction, task overhead and returning the (rows, 1) outputs, not making or shipping the inputs. Each
configuration is warmed up once (the workers load the model then) and timed `--repeats` times; the table shows
the median. Each worker runs one thread, and pyrnn one thread in it (num_threads=1), so 2 workers use 2 cores;
the in-process rows use pyrnn's own thread pool (1 or 2 threads) on the same numbers of cores. On a 2-core
machine Dask can only add overhead to pyrnn's own threading: the point of the Dask path is scaling past one
machine and fitting pyrnn into existing Dask pipelines, not beating the thread pool on one box.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from _machine import cpu_name  # bench/, the script's own folder

import pyrnn


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up: model loads, thread pools, memory
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=400_000)
    ap.add_argument("--chunk", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", help="also write the table to this markdown file")
    args = ap.parse_args()

    import dask.array as da
    import distributed

    from pyrnn import dask as pyrnn_dask

    path = os.path.join(os.path.dirname(os.path.abspath(pyrnn.__file__)), "data", "demo_sunspots.keras")
    model = pyrnn.load(path)
    rows, chunk = args.rows, args.chunk
    x = np.random.default_rng(0).normal(size=(rows, 24, 1)).astype(np.float32)
    results = []

    for threads in (1, 2):
        pyrnn.set_num_threads(threads)
        t = _median_time(lambda: model.predict(x, batch_size=chunk), args.repeats)
        results.append((f"model.predict in this process, {threads} pyrnn thread(s)", threads, t))
    pyrnn.set_num_threads(pyrnn.physical_cores())

    reference = None
    for workers in (1, 2):
        with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                      dashboard_address=":0") as cluster, distributed.Client(cluster):
            dx = da.random.default_rng(0).normal(size=(rows, 24, 1), chunks=(chunk, 24, 1)).astype(np.float32)
            dx = dx.persist()  # generated and kept on the workers before the clock starts
            distributed.wait(dx)
            y = pyrnn_dask.predict(path, dx, num_threads=1)
            out = y.compute()  # warm-up, and the same bits for any worker count
            if reference is None:
                reference = out
            assert np.array_equal(out, reference), "dask results differ between worker counts"
            t = _median_time(y.compute, args.repeats)
            results.append((f"pyrnn.dask.predict, {workers} worker process(es) x 1 thread", workers, t))

    lines = [
        f"Machine: {cpu_name()}, {os.cpu_count()} logical CPUs; pyrnn {pyrnn.__version__}, "
        f"ISA {pyrnn.config()['isa']}; {rows:,} sequences of 24 steps in chunks of {chunk:,}; "
        f"median of {args.repeats} after a warm-up; load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        "| configuration | cores used | time | sequences/s |",
        "|---|---|---|---|",
    ]
    for name, cores, t in results:
        lines.append(f"| {name} | {cores} | {t * 1e3:.0f} ms | {rows / t:,.0f} |")
    table = "\n".join(lines)
    print(table)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(table + "\n")


if __name__ == "__main__":
    main()
