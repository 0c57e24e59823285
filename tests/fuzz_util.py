"""Helpers for tests/test_fuzz_files.py: a sandboxed loader process and hostile-file builders.

The loader runs ``pyrnn.load(path)`` (and ``predict`` on a small zero input when the load succeeds) in a
separate process with a 4 GiB address-space limit, so that a crash (segfault, abort), a hang or a memory
blow-up in pyrnn is observed as such instead of taking the test run down. The parent sends one JSON request
per line on stdin and reads one JSON result per line; a dead or silent child is restarted.

Run directly (``python fuzz_util.py``) this file *is* the child.
"""

from __future__ import annotations

import functools
import io
import json
import os
import select
import struct
import subprocess
import sys
import tempfile
import time
import zlib

ADDRESS_SPACE = 4 << 30
HERE = os.path.dirname(os.path.abspath(__file__))


# ============================================================================================ the child


def _child_main() -> int:  # pragma: no cover - runs in the subprocess
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    import traceback

    import numpy as np

    import pyrnn

    def rss_kb() -> int:
        """Peak RSS of this process image (VmHWM; ru_maxrss would carry the parent's peak over exec)."""
        try:
            with open("/proc/self/status") as f:
                for ln in f:
                    if ln.startswith("VmHWM:"):
                        return int(ln.split()[1])
        except OSError:
            pass
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def reset_peak() -> None:
        try:  # Linux >= 4.0: "5" resets the peak RSS to the current RSS
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            pass

    def cur_rss_kb() -> int:
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)
        except OSError:
            return 0

    def small_input(shape):
        if shape is None:
            return None
        dims = [2] + [4 if d is None else int(d) for d in shape[1:]]
        if any(d < 0 for d in dims) or int(np.prod(dims, dtype=object)) > 1 << 22:
            return None
        return np.zeros(dims, np.float32)  # zeros: valid token ids for Embedding inputs too

    out = sys.stdout
    out.write(json.dumps({"ready": True, "pyrnn": pyrnn.__file__}) + "\n")
    out.flush()
    for line in sys.stdin:
        req = json.loads(line)
        path = req["path"]
        res = {"path": path, "status": "ok", "stage": "load"}
        reset_peak()
        before = cur_rss_kb()
        t0 = time.perf_counter()
        try:
            model = pyrnn.load(path)
            if req.get("predict", True):
                res["stage"] = "predict"
                shapes = model.input_shape
                shapes = shapes if isinstance(shapes, list) else [shapes]
                xs = [small_input(s) for s in shapes]
                if any(x is None for x in xs):
                    res["predict_skipped"] = f"input shapes {shapes} give no small input"
                else:
                    y = model.predict(xs if len(xs) > 1 else xs[0])
                    ys = y if isinstance(y, list) else [y]
                    res["out_shapes"] = [list(np.shape(a)) for a in ys]
                    res["finite"] = bool(all(np.isfinite(np.asarray(a)).all() for a in ys))
        except BaseException as exc:  # noqa: BLE001 - everything is reported to the parent
            res["status"] = "error"
            res["type"] = f"{type(exc).__module__}.{type(exc).__qualname__}"
            res["mro"] = [c.__name__ for c in type(exc).__mro__]
            res["msg"] = str(exc)[:3000]
            tb = traceback.extract_tb(exc.__traceback__)
            res["where"] = [f"{os.path.basename(fr.filename)}:{fr.lineno} {fr.name}" for fr in tb[-4:]]
            ours = [fr for fr in tb if f"{os.sep}pyrnn{os.sep}" in fr.filename]
            if ours:
                res["pyrnn_where"] = f"pyrnn/{os.path.basename(ours[-1].filename)}:{ours[-1].lineno} {ours[-1].name}"
            if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                raise
        res["secs"] = round(time.perf_counter() - t0, 4)
        res["rss_growth_kb"] = max(0, rss_kb() - before)
        res["maxrss_kb"] = rss_kb()
        res["heavy"] = sorted(m for m in ("tensorflow", "keras", "tf_keras") if m in sys.modules)
        out.write(json.dumps(res) + "\n")
        out.flush()
    return 0


# ============================================================================================ the parent


class Loader:
    """A persistent sandboxed loader process; ``check(path)`` returns the child's result dict, or a dict
    with status "crash" (the process died: ``signal``/``returncode``) or "hang" (no answer in time)."""

    def __init__(self, workdir: str, timeout: float = 20.0, pythonpath: str | None = None,
                 load_timeout: float | None = None) -> None:
        self.workdir = workdir
        self.pythonpath = pythonpath
        self.load_timeout = load_timeout  # PYRNN_LOAD_TIMEOUT for the loader (None: pyrnn's default)
        self.timeout = timeout
        self.proc = None
        self.restarts = 0
        self._err = None

    def _start(self) -> None:
        env = dict(os.environ)
        env.pop("PYTHONPATH", None)
        if self.pythonpath:
            env["PYTHONPATH"] = self.pythonpath
        env["OMP_NUM_THREADS"] = "1"
        env.pop("PYRNN_LOAD_TIMEOUT", None)
        if self.load_timeout is not None:
            env["PYRNN_LOAD_TIMEOUT"] = str(self.load_timeout)
        self._err = tempfile.TemporaryFile()
        # cwd = a scratch folder: a source checkout's ./pyrnn must not shadow the installed package.
        self.proc = subprocess.Popen(
            [sys.executable, "-X", "faulthandler", os.path.join(HERE, "fuzz_util.py")],
            cwd=self.workdir, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, env=env,
            bufsize=0,
        )
        self._buf = b""
        hello = self._readline(120.0)
        if hello is None or not json.loads(hello).get("ready"):
            raise RuntimeError(f"the loader process did not start: {self._stderr_tail()}")

    def _stderr_tail(self) -> str:
        if self._err is None:
            return ""
        self._err.seek(0)
        return self._err.read().decode("utf-8", "replace")[-3000:]

    def _readline(self, timeout: float):
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                return ""  # EOF: the child died
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode()

    def _kill(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc = None

    def check(self, path: str, predict: bool = True, timeout: float | None = None) -> dict:
        if self.proc is None or self.proc.poll() is not None:
            self._kill()
            self._start()
        self.proc.stdin.write((json.dumps({"path": str(path), "predict": predict}) + "\n").encode())
        self.proc.stdin.flush()
        t0 = time.monotonic()
        line = self._readline(timeout or self.timeout)
        if line is None:
            self._kill()
            self.restarts += 1
            return {"path": str(path), "status": "hang", "secs": round(time.monotonic() - t0, 1)}
        if line == "":
            self.proc.wait()
            rc = self.proc.returncode
            tail = self._stderr_tail()
            self.proc = None
            self.restarts += 1
            return {"path": str(path), "status": "crash", "returncode": rc,
                    "signal": -rc if rc is not None and rc < 0 else None, "stderr": tail[-1500:]}
        return json.loads(line)

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


def violation(res: dict, *, max_secs: float = 15.0, max_rss_growth_mb: float | None = None) -> str | None:
    """None when the result honours the contract, else a one-line description of what went wrong."""
    name = os.path.basename(res["path"])
    st = res["status"]
    if st == "crash":
        sig = res.get("signal")
        return f"{name}: CRASH (signal {sig}, rc {res.get('returncode')}): {res.get('stderr', '')[-300:]!r}"
    if st == "hang":
        return f"{name}: HANG (no answer after {res['secs']} s)"
    if res.get("heavy"):
        return f"{name}: imported {res['heavy']}"
    if res["secs"] > max_secs:
        return f"{name}: took {res['secs']} s"
    if max_rss_growth_mb is not None and res["rss_growth_kb"] > max_rss_growth_mb * 1024:
        return f"{name}: peak memory grew by {res['rss_growth_kb'] // 1024} MiB"
    if st == "ok":
        return None
    mro = res["mro"]
    where = " <- ".join(reversed(res.get("where", [])))
    if res.get("pyrnn_where") and res["pyrnn_where"].split("/", 1)[1] not in where:
        where += f" <- ... {res['pyrnn_where']}"
    if "FileNotFoundError" in mro and res["stage"] == "load":
        return None
    if "ModelFormatError" not in mro:
        return f"{name}: {res['stage']} raised {res['type']}: {res['msg'][:300]!r} at {where}"
    if res["stage"] == "load" and name not in res["msg"]:
        return f"{name}: ModelFormatError message does not name the file: {res['msg'][:300]!r}"
    return None


def run_all(loader: Loader, paths, **kw):
    """Checks every path; returns (results, violations)."""
    results, bad = [], []
    for p in paths:
        r = loader.check(p)
        results.append(r)
        v = violation(r, **kw)
        if v:
            bad.append(v)
    return results, bad


def summarize(results) -> str:
    from collections import Counter

    c = Counter(r["status"] if r["status"] != "error" else r["type"].split(".")[-1] for r in results)
    return ", ".join(f"{k}: {v}" for k, v in sorted(c.items()))


# ============================================================================================ zip writing


def write_zip(path: str, entries) -> str:
    """A zip archive from raw entries: (name, method, payload, crc, compressed_size, declared_size), where
    payload is bytes or an iterable of byte chunks already compressed with ``method`` (0 stored, 8 deflate).
    Lets the sizes and CRC lie, and never holds an inflated bomb in memory. No ZIP64 (sizes < 4 GiB)."""
    central = []
    with open(path, "wb") as f:
        for name, method, payload, crc, csize, usize in entries:
            off = f.tell()
            nb = name.encode()
            f.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, crc & 0xFFFFFFFF,
                                csize, usize, len(nb), 0) + nb)
            for chunk in ([payload] if isinstance(payload, (bytes, bytearray)) else payload):
                f.write(chunk)
            central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21,
                                       crc & 0xFFFFFFFF, csize, usize, len(nb), 0, 0, 0, 0, 0, off) + nb)
        cd_off = f.tell()
        cd = b"".join(central)
        f.write(cd)
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(central), len(central), len(cd), cd_off, 0))
    return path


def stored(name: str, data: bytes):
    return (name, 0, data, zlib.crc32(data), len(data), len(data))


def deflated(name: str, data: bytes, declared: int | None = None):
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    comp = co.compress(data) + co.flush()
    return (name, 8, comp, zlib.crc32(data), len(comp), len(data) if declared is None else declared)


@functools.cache
def _repeat_crc(prefix: bytes, byte: bytes, chunk: int, n: int) -> int:
    block = byte * chunk
    crc = zlib.crc32(prefix)
    for _ in range(n):
        crc = zlib.crc32(block, crc)
    return crc


def deflate_bomb(name: str, total: int, byte: bytes = b"\0", declared: int | None = None, chunk: int = 1 << 20,
                 prefix: bytes = b""):
    """An entry that inflates to ``prefix + byte * total`` (total a multiple of chunk) from a few MB, built
    without compressing ``total`` bytes: after a full flush deflate restarts, so one compressed chunk repeats."""
    assert total % chunk == 0
    block_in = byte * chunk
    co = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = co.compress(prefix) + co.flush(zlib.Z_FULL_FLUSH) if prefix else b""
    b1 = co.compress(block_in) + co.flush(zlib.Z_FULL_FLUSH)
    b2 = co.compress(block_in) + co.flush(zlib.Z_FULL_FLUSH)
    assert b1 == b2, "deflate blocks after a full flush are not identical"
    tail = co.flush()
    n = total // chunk
    crc = _repeat_crc(prefix, byte, chunk, n)
    csize = len(head) + n * len(b1) + len(tail)
    usize = len(prefix) + total

    def chunks():
        yield head
        for _ in range(n):
            yield b1
        yield tail

    return (name, 8, chunks(), crc, csize, usize if declared is None else declared)


if __name__ == "__main__":
    sys.exit(_child_main())


# ============================================================================================ valid files


def chain_config(n: int) -> dict:
    """A Functional config: input -> n Activation('linear') layers (weights: empty groups)."""
    layers = [{"module": "keras.layers", "class_name": "InputLayer", "name": "x",
               "config": {"batch_shape": [None, 4, 3], "dtype": "float32", "sparse": False, "name": "x"},
               "inbound_nodes": []}]
    prev = "x"
    for i in range(n):
        nm = f"act{i}"
        layers.append({"module": "keras.layers", "class_name": "Activation", "name": nm,
                       "config": {"name": nm, "trainable": True, "dtype": "float32", "activation": "linear"},
                       "inbound_nodes": [{"args": [{"class_name": "__keras_tensor__", "config": {
                           "shape": [None, 4, 3], "dtype": "float32", "keras_history": [prev, 0, 0]}}],
                           "kwargs": {}}]})
        prev = nm
    return {"module": "keras.src.models.functional", "class_name": "Functional",
            "config": {"name": "chain", "trainable": True, "layers": layers,
                       "input_layers": [["x", 0, 0]], "output_layers": [[prev, 0, 0]]}}


def chain_weights(n: int) -> bytes:
    import h5py

    buf = io.BytesIO()
    with h5py.File(buf, "w") as f:
        f.create_group("vars")
        f.create_group("layers/input_layer/vars")
        for i in range(n):
            f.create_group(f"layers/activation{'' if i == 0 else f'_{i}'}/vars")
    return buf.getvalue()


def write_chain(path: str, n: int) -> str:
    """A valid .keras file: input -> n Activation('linear') layers (16,000 layers: ~35 MB)."""
    return write_zip(path, [stored("metadata.json", b'{"keras_version": "3.15.1"}'),
                            stored("config.json", json.dumps(chain_config(n)).encode()),
                            stored("model.weights.h5", chain_weights(n))])
