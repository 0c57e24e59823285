"""Load every zoo file with pyrnn.load in a process that never imports TensorFlow or Keras.

Usage: python _load_in_subprocess.py ZOO_DIR
Reads ZOO_DIR/manifest.json (written by test_zoo.py), writes ZOO_DIR/<case>.pyrnn.npz with pyrnn's
predictions and ZOO_DIR/results.json with per-case metadata or the error. Run it with cwd=ZOO_DIR so
that a source checkout's ./pyrnn cannot shadow the installed package. Exits non-zero if TensorFlow,
Keras or tf-keras got imported.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import traceback


def _shape(s):
    """Keras-style shape (tuple or list of tuples) -> JSON-able nested lists."""
    if isinstance(s, (list, tuple)):
        return [_shape(v) for v in s]
    return None if s is None else int(s)


def _attr(r, key, fn):
    try:
        r[key] = fn()
    except Exception as ex:  # noqa: BLE001 - recorded for the test to report
        r.setdefault("attr_errors", {})[key] = f"{type(ex).__name__}: {ex}"


def main(zoo_dir: str) -> int:
    import numpy as np

    import pyrnn

    with open(os.path.join(zoo_dir, "manifest.json")) as f:
        manifest = json.load(f)
    results = {"__pyrnn_file__": getattr(pyrnn, "__file__", None)}
    for case, info in manifest["cases"].items():
        r = {}
        t0 = time.perf_counter()
        try:
            model = pyrnn.load(os.path.join(zoo_dir, info["file"]))
            r["load_s"] = time.perf_counter() - t0
            with np.load(os.path.join(zoo_dir, info["input"])) as z:
                xs = [z[f"arr_{i}"] for i in range(len(z.files))]
            x = xs if info["multi_input"] else xs[0]
            y = model.predict(x)
            r["kind"] = "list" if isinstance(y, list) else type(y).__name__
            ys = y if isinstance(y, list) else [y]
            np.savez(os.path.join(zoo_dir, f"{case}.pyrnn.npz"), *[np.asarray(a) for a in ys])
            r["dtypes"] = [str(np.asarray(a).dtype) for a in ys]
            _attr(r, "count_params", lambda model=model: int(model.count_params()))
            _attr(r, "input_shape", lambda model=model: _shape(model.input_shape))
            _attr(r, "output_shape", lambda model=model: _shape(model.output_shape))
            _attr(r, "repr", lambda model=model: repr(model))

            def summary(model=model):
                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    ret = model.summary()
                return buf.getvalue() + (ret if isinstance(ret, str) else "")

            _attr(r, "summary", summary)
        except Exception as ex:  # noqa: BLE001
            r["error"] = f"{type(ex).__name__}: {ex}"
            r["traceback"] = traceback.format_exc(limit=6)
        r["total_s"] = time.perf_counter() - t0
        results[case] = r

    heavy = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf_keras"))
    results["__heavy_modules__"] = heavy
    with open(os.path.join(zoo_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    assert "tensorflow" not in sys.modules and "keras" not in sys.modules and "tf_keras" not in sys.modules, heavy[:10]
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
