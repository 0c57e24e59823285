"""Reading an untrusted model file in a helper process, under a CPU-time limit.

Why: some corrupt HDF5 files make libhdf5 loop forever inside one C call, which no
Python-level check can interrupt; only a separate process can be stopped. Why not
``fork``: forking a process that already runs threads (pyrnn's own pool after a
``predict``, BLAS, the user's) can deadlock the child, and Python 3.12+ warns about it.
So the reader is a separate interpreter started with ``subprocess`` (fork + exec, which
is safe with threads), lazily on the first load and reused by later loads; it is
replaced when it was stopped, died, or grew large.

Why CPU time: a limit in wall time fires on a valid file whenever the machine is busy,
and a busy machine stretches wall time, not the CPU time a read needs. The limit is
generous and scales with the work (:func:`default_limit`); ``pyrnn.load(path,
timeout=...)`` or ``PYRNN_LOAD_TIMEOUT`` sets it, ``PYRNN_LOAD_IN_PROCESS=1`` reads in
this process with no limit. Where per-process CPU time cannot be read (not Linux) the
file is read in-process, as before.

Protocol (stdin/stdout of the helper, length-prefixed pickles): the parent sends
``(module, function, path, memory_limit, cpu_limit)``; the helper answers ``("ok", ModelSource)``,
``("err", message)`` for a :class:`ModelFormatError` or ``("fail", message)`` for any
other exception.
"""

from __future__ import annotations

import atexit
import math
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from typing import Any, BinaryIO, Callable, Optional, Tuple

from .errors import LoadTimeoutError, ModelFormatError

ENV_TIMEOUT = "PYRNN_LOAD_TIMEOUT"
ENV_IN_PROCESS = "PYRNN_LOAD_IN_PROCESS"

BASE_CPU_S = 30.0  # any sound file of a few MB reads in well under a second of CPU
CPU_S_PER_MB = 1.0  # per MB of file and per MB of (uncompressed) config.json; reads run at ~15 MB/s
WALL_FACTOR = 20.0  # a helper that uses no CPU at all (stopped, swapped out) is given up after this x the limit
MIN_WALL_S = 600.0
RECYCLE_RSS = 1 << 30  # a helper that grew past this after a load is replaced, returning its memory

_HEADER = struct.Struct("<Q")
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _supported() -> bool:
    return sys.platform.startswith("linux") and os.path.exists(f"/proc/{os.getpid()}/stat") and bool(sys.executable)


# ---- limits ---------------------------------------------------------------------------------


def _config_bytes(path: str) -> int:
    """The uncompressed size the zip directory declares for config.json (0 if none). Reading
    a zip's directory is pure Python and bounded; nothing of the HDF5 part is touched here."""
    try:
        with zipfile.ZipFile(path) as z:
            return min(z.getinfo("config.json").file_size, 64 << 20)
    except Exception:  # noqa: BLE001 - any damage is the helper's to report
        return 0


def default_limit(path: str) -> float:
    """CPU seconds a read of ``path`` may take by default: 30 s, plus 1 s per MB of the
    file and per MB of its config (a 16,000-layer, 35 MB file reads in ~2 s)."""
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0
    return BASE_CPU_S + CPU_S_PER_MB * (size + _config_bytes(path)) / 1e6


def resolve_limit(path: str, timeout: Optional[float]) -> Tuple[float, str]:
    """The CPU-time limit for this read and where it came from (for the message)."""
    if timeout is not None:
        return _check_timeout(timeout, "timeout"), f"timeout={timeout:g}"
    env = os.environ.get(ENV_TIMEOUT, "").strip()
    if env:
        try:
            value = float(env)
        except ValueError:
            raise ValueError(f"{ENV_TIMEOUT}={env!r}: expected a number of seconds (or 'inf')") from None
        return _check_timeout(value, ENV_TIMEOUT), f"{ENV_TIMEOUT}={env}"
    limit = default_limit(path)
    return limit, f"the default, {BASE_CPU_S:g} s + {CPU_S_PER_MB:g} s per MB of file and config = {limit:.1f} s"


def _check_timeout(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of CPU seconds (or float('inf')), got {value!r}")
    return float(value)


# ---- the helper process (parent side) ---------------------------------------------------


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc (fields 14 and 15 of stat)."""
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


_BOOT = (
    "import sys; sys.path[:] = {path!r}; "
    "from pyrnn._sandbox import _serve; _serve()"
)


class _Helper:
    """One reader process: started by fork + exec, reads files one at a time."""

    def __init__(self) -> None:
        import pyrnn

        pkg_parent = os.path.dirname(os.path.dirname(os.path.abspath(pyrnn.__file__)))
        path = [pkg_parent] + [p for p in sys.path if p and p != pkg_parent]
        env = dict(os.environ)
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = "1"  # the helper does no arithmetic; no idle BLAS threads
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT.format(path=path)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.stderr, env=env, close_fds=True,
        )
        self.owner = os.getpid()
        self.buf = b""

    def alive(self) -> bool:
        return self.owner == os.getpid() and self.proc.poll() is None

    def stop(self) -> None:
        if self.owner != os.getpid():
            return  # inherited through fork: the parent's helper, not ours to stop
        try:
            self.proc.kill()
        except OSError:
            pass
        self.proc.wait()
        for fh in (self.proc.stdin, self.proc.stdout, self.stderr):
            try:
                fh.close()  # type: ignore[union-attr]
            except OSError:
                pass

    def stderr_tail(self) -> str:
        try:
            self.stderr.seek(0, os.SEEK_END)
            n = self.stderr.tell()
            self.stderr.seek(max(0, n - 2000))
            return self.stderr.read().decode("utf-8", "replace").strip()
        except (OSError, ValueError):
            return ""

    def send(self, obj: Any) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        assert self.proc.stdin is not None
        self.proc.stdin.write(_HEADER.pack(len(data)) + data)
        self.proc.stdin.flush()

    def receive(self, limit: float) -> Tuple[Optional[Any], float]:
        """The helper's answer, or (None, cpu_used) once it used ``limit`` CPU seconds (or
        the wall-clock backstop passed). Raises EOFError if the helper ended."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        cpu0 = _cpu_seconds(self.proc.pid)
        wall_end = time.monotonic() + max(MIN_WALL_S, WALL_FACTOR * limit)
        need: Optional[int] = None
        while True:
            if need is None and len(self.buf) >= _HEADER.size:
                need = _HEADER.size + _HEADER.unpack_from(self.buf)[0]
            if need is not None and len(self.buf) >= need:
                payload, self.buf = self.buf[_HEADER.size:need], self.buf[need:]
                return pickle.loads(payload), 0.0
            used = _cpu_seconds(self.proc.pid) - cpu0 if self.proc.poll() is None else 0.0
            if used > limit or time.monotonic() > wall_end:
                return None, used
            ready, _, _ = select.select([fd], [], [], min(0.25, max(0.01, limit - used)))
            if ready:
                block = os.read(fd, 1 << 20)
                if not block:
                    raise EOFError
                self.buf += block


_lock = threading.Lock()
_helper: Optional[_Helper] = None


def _reset_after_fork() -> None:
    global _lock, _helper
    _lock = threading.Lock()  # the parent's may have been held by a thread this child does not have
    _helper = None  # the parent's helper; the child starts its own when it needs one


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


@atexit.register
def _shutdown() -> None:
    global _helper
    if _helper is not None:
        _helper.stop()
        _helper = None


def _timeout_error(fname: str, used: float, origin: str) -> LoadTimeoutError:
    return LoadTimeoutError(
        f"{fname}: reading the file was stopped after {used:.1f} s of CPU time, the load time limit "
        f"({origin}). A very large valid model can need more, and a corrupt HDF5 structure can make "
        f"libhdf5 loop forever. To allow more: pyrnn.load(path, timeout=SECONDS) or the environment "
        f"variable {ENV_TIMEOUT}=SECONDS ('inf' for no limit); {ENV_IN_PROCESS}=1 reads in this process."
    )


def _helper_failed(helper: _Helper, fname: str, limit: float, origin: str, exc: BaseException) -> ModelFormatError:
    """The error for a helper that ended or garbled its answer (it is stopped and forgotten)."""
    global _helper
    helper.stop()
    _helper = None
    tail = helper.stderr_tail()
    code = helper.proc.returncode
    if code == -signal.SIGXCPU:  # the helper's own CPU cap (see _cap_cpu) fired before our check
        return _timeout_error(fname, limit, origin)
    how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
    detail = f" ({type(exc).__name__})" if not isinstance(exc, EOFError) else ""
    return ModelFormatError(
        f"{fname}: reading the file failed: the reader process ended abnormally ({how}){detail}"
        + (f"; it printed: {tail.splitlines()[-1]}" if tail else "")
    )


def read_isolated(reader: Callable[[str], Any], path: str, fname: str, timeout: Optional[float] = None) -> Any:
    """``reader(path)`` run in the helper process under a CPU-time limit (see the module
    docstring); in-process where that is unavailable or ``PYRNN_LOAD_IN_PROCESS`` is set."""
    if os.environ.get(ENV_IN_PROCESS) or not _supported():
        if timeout is not None:
            _check_timeout(timeout, "timeout")  # the same argument errors wherever the file is read
        return reader(path)
    limit, origin = resolve_limit(path, timeout)
    from . import _core

    global _helper
    with _lock:
        if _helper is None or not _helper.alive():
            if _helper is not None:
                _helper.stop()
            _helper = _Helper()
        helper = _helper
        try:
            helper.send((reader.__module__, reader.__name__, os.path.abspath(path), _core.memory_limit(), limit))
            answer, used = helper.receive(limit)
        except BaseException as exc:
            if isinstance(exc, (EOFError, OSError, pickle.UnpicklingError, ValueError)):
                raise _helper_failed(helper, fname, limit, origin, exc) from None
            # KeyboardInterrupt and the like: the helper may still answer this request, which the
            # next load would then take for its own; a fresh helper starts clean.
            helper.stop()
            _helper = None
            raise

        if answer is None:
            helper.stop()
            _helper = None
            raise _timeout_error(fname, used, origin)
        if _rss_bytes(helper.proc.pid) > RECYCLE_RSS:
            helper.stop()
            _helper = None
    status, value = answer
    if status == "ok":
        return value
    if status == "err":
        raise ModelFormatError(value)
    raise ModelFormatError(f"{fname}: cannot read the file ({value})")


# ---- the helper process (child side) ----------------------------------------------------


def _read_exact(fh: BinaryIO, n: int) -> Optional[bytes]:
    data = b""
    while len(data) < n:
        block = fh.read(n - len(data))
        if not block:
            return None
        data += block
    return data


def _cap_cpu(limit: float) -> None:
    """Let the kernel end this helper (SIGXCPU) soon after it overruns the request's limit: the parent
    normally stops it first, but a parent that died leaves a helper stuck in a looping libhdf5 call that
    would never read its closed stdin. (Not PR_SET_PDEATHSIG: it fires when the *thread* that started the
    helper ends, and any thread may have.)"""
    try:
        import resource

        usage = resource.getrusage(resource.RUSAGE_SELF)
        used = usage.ru_utime + usage.ru_stime
        soft = resource.RLIM_INFINITY if math.isinf(limit) else int(math.ceil(used + limit)) + 2
        resource.setrlimit(resource.RLIMIT_CPU, (soft, resource.getrlimit(resource.RLIMIT_CPU)[1]))
    except (ImportError, ValueError, OSError):
        pass


def _serve() -> None:
    """The helper's loop: one request at a time until the parent closes the pipe."""
    import importlib

    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a stray print goes to stderr, never into the answers
    from . import _core

    while True:
        head = _read_exact(requests, _HEADER.size)
        if head is None:
            return
        body = _read_exact(requests, _HEADER.unpack(head)[0])
        if body is None:
            return
        module, func, path, memory_limit, cpu_limit = pickle.loads(body)
        _cap_cpu(cpu_limit)
        try:
            _core.set_memory_limit(memory_limit)
            reader = getattr(importlib.import_module(module), func)
            answer: Tuple[str, Any] = ("ok", reader(path))
            data = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
        except ModelFormatError as exc:
            data = pickle.dumps(("err", str(exc)))
        except BaseException as exc:  # noqa: BLE001 - whatever a damaged file makes a library raise
            data = pickle.dumps(("fail", f"{type(exc).__name__}: {exc}"))
        answers.write(_HEADER.pack(len(data)) + data)
        answers.flush()
