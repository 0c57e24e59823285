"""What per-op profiling costs: predict latency of one build against another (profiling
off), and a profiled run against a plain one (profiling on).

    python bench/profile_overhead.py --before /path/to/other/site-packages [--rounds 9]

Each round runs one fresh process per build, alternating, so machine noise hits both
alike; each process reports the min (and median) of N timed calls per model. The
report is the min over rounds of each build's numbers. Models (built from configs, no
TensorFlow needed): LSTM(50) T=49 F=1 -> Dense(46, softmax) at batch 1, the bundled
demo model (LSTM(32) T=24 -> Dense(1)) at batch 1 and 88, and a chain of 100 tiny
Dense layers (100 ops of well under a microsecond: where a per-op cost shows).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def _lstm50():
    import pyrnn
    from pyrnn.keras_files import ModelSource

    rng = np.random.default_rng(0)

    def layer(cls, name, cfg):
        return {"class_name": cls, "name": name, "module": "keras.layers", "config": dict(cfg, name=name)}

    cfg = {"class_name": "Sequential", "config": {"name": "lstm50", "layers": [
        layer("InputLayer", "in", {"batch_shape": [None, 49, 1]}),
        layer("LSTM", "lstm", {"units": 50, "activation": "tanh", "recurrent_activation": "sigmoid"}),
        layer("Dense", "dense", {"units": 46, "activation": "softmax"})]}}
    w = {"lstm": [("kernel", rng.standard_normal((1, 200)).astype(np.float32) * 0.3),
                  ("recurrent_kernel", rng.standard_normal((50, 200)).astype(np.float32) * 0.1),
                  ("bias", np.zeros(200, np.float32))],
         "dense": [("kernel", rng.standard_normal((50, 46)).astype(np.float32) * 0.1),
                   ("bias", np.zeros(46, np.float32))]}
    return pyrnn.Model(ModelSource("lstm50", cfg, "3.15.1", w, "object"))


def _dense_chain(n: int = 100):
    """n tiny Dense layers: a plan of n cheap ops, where a per-op cost would show."""
    import pyrnn
    from pyrnn.keras_files import ModelSource

    rng = np.random.default_rng(0)
    layers = [{"class_name": "InputLayer", "name": "in", "module": "keras.layers",
               "config": {"name": "in", "batch_shape": [None, 8]}}]
    w = {}
    for i in range(n):
        layers.append({"class_name": "Dense", "name": f"d{i}", "module": "keras.layers",
                       "config": {"name": f"d{i}", "units": 8, "activation": "tanh"}})
        w[f"d{i}"] = [("kernel", rng.standard_normal((8, 8)).astype(np.float32) * 0.3),
                      ("bias", np.zeros(8, np.float32))]
    cfg = {"class_name": "Sequential", "config": {"name": "chain", "layers": layers}}
    return pyrnn.Model(ModelSource("chain", cfg, "3.15.1", w, "object"))


def worker(calls: int) -> dict:
    import pyrnn

    data = os.path.join(os.path.dirname(pyrnn.__file__), "data")
    demo = pyrnn.load(os.path.join(data, "demo_sunspots.keras"))
    xd = np.load(os.path.join(data, "demo_inputs.npy"))
    cases = {"LSTM(50) T=49 b=1": (_lstm50(), np.random.default_rng(1).standard_normal((1, 49, 1), np.float32)),
             "demo b=1": (demo, np.ascontiguousarray(xd[:1])),
             "demo b=88": (demo, xd),
             "100 x Dense(8) b=1": (_dense_chain(), np.ones((1, 8), np.float32))}
    out = {}
    for name, (model, x) in cases.items():
        n = calls if x.shape[0] == 1 else calls // 10
        for _ in range(50):
            model.predict(x)
        ts = np.empty(n)
        for i in range(n):
            t0 = time.perf_counter()
            model.predict(x)
            ts[i] = time.perf_counter() - t0
        res = {"min_us": ts.min() * 1e6, "p50_us": float(np.median(ts)) * 1e6}
        if hasattr(model, "profile"):
            prof = model.profile(x, repeats=n, warmup=50)
            wall = np.asarray(prof.wall_s)
            res["profiled_min_us"] = wall.min() * 1e6
            res["profiled_p50_us"] = float(np.median(wall)) * 1e6
            # profile's wall times are taken inside C++, so they leave out the ~1-2 us of Python
            # and binding work that predict's include.
        out[name] = res
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", help="a directory holding another pyrnn build (PYTHONPATH for 'before')")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--worker", action="store_true")
    a = ap.parse_args()
    if a.worker:
        print(json.dumps(worker(a.calls)))
        return
    builds = {"after": None}
    if a.before:
        builds = {"before": a.before, "after": None}
    results: dict = {b: [] for b in builds}
    here = os.path.abspath(__file__)
    for _ in range(a.rounds):
        for b, path in builds.items():
            env = dict(os.environ)
            if path:
                env["PYTHONPATH"] = path
            r = subprocess.run([sys.executable, here, "--worker", "--calls", str(a.calls)], env=env, cwd="/",
                               capture_output=True, text=True, check=True)
            results[b].append(json.loads(r.stdout))
    for case in results["after"][0]:
        line = [f"{case:>18}"]
        for b in builds:
            runs = [r[case] for r in results[b]]
            line.append(f"{b}: min {min(r['min_us'] for r in runs):7.2f} us, "
                        f"p50 {min(r['p50_us'] for r in runs):7.2f} us")
        after = [r[case] for r in results["after"]]
        line.append(f"profiled (C++ wall): min {min(r['profiled_min_us'] for r in after):7.2f} us, "
                    f"p50 {min(r['profiled_p50_us'] for r in after):7.2f} us")
        print(" | ".join(line))


if __name__ == "__main__":
    main()
