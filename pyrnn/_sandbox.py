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
this process with no limit.

Platforms: the helper's CPU time is read from /proc on Linux, with ``proc_pid_rusage`` on
macOS and ``GetProcessTimes`` on Windows (both through ctypes). macOS: ``subprocess`` starts
the helper with fork + exec or posix_spawn, never a bare fork, so it is as safe there with
threads as on Linux. Windows: pipes cannot be ``select``-ed, so a thread reads the helper's
answers; there is no RLIMIT_CPU, so the helper is put in a Job object that ends it when this
process ends (what the helper's own CPU cap guards against elsewhere: a parent that died
leaving a helper looping in libhdf5). Where none of these works the file is read in-process.

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
import queue
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
    if not sys.executable:
        return False
    if sys.platform.startswith("linux"):
        return os.path.exists(f"/proc/{os.getpid()}/stat")
    if sys.platform in ("darwin", "win32"):
        try:
            return _cpu_seconds(os.getpid()) >= 0.0  # the ctypes calls work here
        except (OSError, AttributeError, ValueError):
            return False
    return False


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
    """User + system CPU time of a process: /proc (fields 14 and 15 of stat) on Linux."""
    if sys.platform == "darwin":
        return _macos_usage(pid)[0]
    if sys.platform == "win32":
        return _windows_usage(pid)[0]
    with open(f"/proc/{pid}/stat", "rb") as fh:
        fields = fh.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


def _rss_bytes(pid: int) -> int:
    try:
        if sys.platform == "darwin":
            return _macos_usage(pid)[1]
        if sys.platform == "win32":
            return _windows_usage(pid)[1]
        with open(f"/proc/{pid}/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0


def _macos_usage(pid: int) -> Tuple[float, int]:
    """(CPU seconds, resident bytes) of a process on macOS, from proc_pid_rusage (libproc). Its
    times are in Mach absolute-time units: nanoseconds on Intel, timebase ticks on Apple silicon."""
    import ctypes

    class RusageInfoV0(ctypes.Structure):
        _fields_ = [("uuid", ctypes.c_uint8 * 16)] + [(name, ctypes.c_uint64) for name in (
            "user_time", "system_time", "pkg_idle_wkups", "interrupt_wkups", "pageins", "wired_size",
            "resident_size", "phys_footprint", "proc_start_abstime", "proc_exit_abstime")]

    class Timebase(ctypes.Structure):
        _fields_ = [("numer", ctypes.c_uint32), ("denom", ctypes.c_uint32)]

    libc = ctypes.CDLL("/usr/lib/libSystem.B.dylib", use_errno=True)
    info, tb = RusageInfoV0(), Timebase()
    if libc.proc_pid_rusage(ctypes.c_int(pid), ctypes.c_int(0), ctypes.byref(info)) != 0:  # RUSAGE_INFO_V0
        raise OSError(ctypes.get_errno(), f"proc_pid_rusage({pid}) failed")
    libc.mach_timebase_info(ctypes.byref(tb))
    scale = (tb.numer / tb.denom if tb.denom else 1.0) * 1e-9
    return (info.user_time + info.system_time) * scale, int(info.resident_size)


def _windows_usage(pid: int) -> Tuple[float, int]:
    """(CPU seconds, working-set bytes) of a process on Windows (GetProcessTimes, K32GetProcessMemoryInfo)."""
    import ctypes
    from ctypes import wintypes

    kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
    kernel32.OpenProcess.restype = wintypes.HANDLE
    handle = kernel32.OpenProcess(0x1000 | 0x0400, False, pid)  # QUERY_LIMITED_INFORMATION | QUERY_INFORMATION
    if not handle:
        raise OSError(ctypes.get_last_error(), f"OpenProcess({pid}) failed")  # type: ignore[attr-defined,unused-ignore]

    class Counters(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD)] + [
            (name, ctypes.c_size_t) for name in (
                "PeakWorkingSetSize", "WorkingSetSize", "QuotaPeakPagedPoolUsage", "QuotaPagedPoolUsage",
                "QuotaPeakNonPagedPoolUsage", "QuotaNonPagedPoolUsage", "PagefileUsage", "PeakPagefileUsage")]

    try:
        t = [wintypes.FILETIME() for _ in range(4)]  # creation, exit, kernel, user: 100 ns units
        if not kernel32.GetProcessTimes(handle, *(ctypes.byref(x) for x in t)):
            raise OSError(ctypes.get_last_error(), "GetProcessTimes failed")  # type: ignore[attr-defined,unused-ignore]
        cpu = sum((x.dwHighDateTime << 32 | x.dwLowDateTime) for x in t[2:]) * 1e-7
        counters = Counters()
        counters.cb = ctypes.sizeof(Counters)
        ok = kernel32.K32GetProcessMemoryInfo(handle, ctypes.byref(counters), counters.cb)
        return cpu, int(counters.WorkingSetSize) if ok else 0
    finally:
        kernel32.CloseHandle(handle)


def _windows_kill_with_parent(proc: subprocess.Popen[bytes]) -> Any:
    """Windows: puts the helper in a Job object that ends it when this process ends (the job's only
    handle, returned and kept by the helper's owner, closes then). None where that fails."""
    import ctypes
    from ctypes import wintypes

    class Basic(ctypes.Structure):
        _fields_ = [("PerProcessUserTimeLimit", ctypes.c_int64), ("PerJobUserTimeLimit", ctypes.c_int64),
                    ("LimitFlags", wintypes.DWORD), ("MinimumWorkingSetSize", ctypes.c_size_t),
                    ("MaximumWorkingSetSize", ctypes.c_size_t), ("ActiveProcessLimit", wintypes.DWORD),
                    ("Affinity", ctypes.c_size_t), ("PriorityClass", wintypes.DWORD),
                    ("SchedulingClass", wintypes.DWORD)]

    class Extended(ctypes.Structure):
        _fields_ = [("Basic", Basic), ("IoInfo", ctypes.c_uint64 * 6), ("ProcessMemoryLimit", ctypes.c_size_t),
                    ("JobMemoryLimit", ctypes.c_size_t), ("PeakProcessMemoryUsed", ctypes.c_size_t),
                    ("PeakJobMemoryUsed", ctypes.c_size_t)]

    try:
        kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)  # type: ignore[attr-defined,unused-ignore]
        kernel32.CreateJobObjectW.restype = wintypes.HANDLE
        job = kernel32.CreateJobObjectW(None, None)
        if not job:
            return None
        info = Extended()
        info.Basic.LimitFlags = 0x2000  # JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE
        kernel32.SetInformationJobObject(job, 9, ctypes.byref(info), ctypes.sizeof(info))  # Extended limits
        kernel32.AssignProcessToJobObject(job, wintypes.HANDLE(int(proc._handle)))  # type: ignore[attr-defined]
        return job
    except (OSError, AttributeError, ValueError):
        return None


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
        self.chunks: Optional[queue.Queue[bytes]] = None
        self.job: Any = None
        if sys.platform == "win32":  # no select() on pipes: a thread reads, receive() polls its queue
            self.job = _windows_kill_with_parent(self.proc)
            self.chunks = queue.Queue()
            threading.Thread(target=self._pump, args=(self.proc.stdout, self.chunks), daemon=True).start()

    @staticmethod
    def _pump(pipe: Any, chunks: queue.Queue[bytes]) -> None:
        while True:
            try:
                block = pipe.read1(1 << 20)
            except (OSError, ValueError):
                block = b""
            chunks.put(block)
            if not block:
                return

    def _wait_read(self, fd: int, timeout: float) -> Optional[bytes]:
        """Up to 1 MiB the helper wrote (b"" once it closed its end), or None when nothing came within timeout."""
        if self.chunks is not None:
            try:
                return self.chunks.get(timeout=timeout)
            except queue.Empty:
                return None
        ready, _, _ = select.select([fd], [], [], timeout)
        return os.read(fd, 1 << 20) if ready else None

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
        if self.job is not None:  # Windows: the Job object's handle (the helper has ended already)
            import ctypes

            ctypes.windll.kernel32.CloseHandle(self.job)  # type: ignore[attr-defined,unused-ignore]
            self.job = None
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
            block = self._wait_read(fd, min(0.25, max(0.01, limit - used)))
            if block is not None:
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
    sigxcpu = getattr(signal, "SIGXCPU", None)  # not on Windows
    if sigxcpu is not None and code == -sigxcpu:  # the helper's own CPU cap (see _cap_cpu) fired before our check
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
    helper ends, and any thread may have.) Windows has no RLIMIT_CPU: its helper is in a Job object
    that ends it with the parent (_windows_kill_with_parent)."""
    if sys.platform == "win32":
        return
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

    if sys.platform == "win32":  # pickles are bytes: no newline translation on the pipes
        import msvcrt

        msvcrt.setmode(0, os.O_BINARY)
        msvcrt.setmode(1, os.O_BINARY)
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
