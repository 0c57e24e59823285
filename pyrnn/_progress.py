"""The progress report of ``Model.predict(verbose=1)``.

Three ways to show it, chosen per call:

* tqdm installed, and stderr a terminal or a notebook: a ``tqdm.auto`` bar (a widget in
  Jupyter, where stderr is not a terminal but the bar renders);
* stderr a terminal without tqdm: the built-in one-line bar, redrawn with ``\\r``;
* stderr not a terminal (a log file, CI, a pipe): no ``\\r`` redraws, only plain lines at
  each tenth of the rows (one line when the whole input is one chunk).
"""

from __future__ import annotations

import sys
import time
from typing import Any, Optional, TextIO

_WIDTH = 30
_PLAIN_STEPS = 10  # at most this many lines (plus the last) when stderr is not a terminal


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _notebook_tqdm(cls: Any) -> bool:
    """Whether ``tqdm.auto`` picked the notebook widget (it does inside a Jupyter kernel)."""
    notebook = sys.modules.get("tqdm.notebook")
    return notebook is not None and isinstance(cls, type) and issubclass(cls, notebook.tqdm)


class Progress:
    """Reports ``done`` of ``total`` rows; ``update(done)`` after each chunk, ``close()`` at the end."""

    def __init__(self, total: int, stream: Optional[TextIO] = None) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self._t0 = time.perf_counter()
        self._bar: Any = None
        self._done = 0
        self._next_plain = 0
        tty = _isatty(self.stream)
        tqdm_cls = _tqdm_class()
        if tqdm_cls is not None and (tty or _notebook_tqdm(tqdm_cls)):
            self.mode = "tqdm"
            self._bar = tqdm_cls(total=total, unit="rows", desc="predict", file=self.stream, leave=True)
        else:
            self.mode = "bar" if tty else "plain"

    def __repr__(self) -> str:
        return f"<pyrnn progress ({self.mode}): {self._done}/{self.total} rows>"

    def update(self, done: int) -> None:
        """``done`` rows are finished (a running total, not an increment)."""
        step, self._done = done - self._done, done
        elapsed = time.perf_counter() - self._t0
        if self.mode == "tqdm":
            self._bar.update(step)
        elif self.mode == "bar":
            filled = int(_WIDTH * done / max(self.total, 1))
            self.stream.write(f"\r{done}/{self.total} [{'=' * filled}{'.' * (_WIDTH - filled)}] {elapsed:.2f}s")
            self.stream.flush()
        elif done >= self._next_plain and done < self.total:
            self._plain(done, elapsed)
            self._next_plain = done + max(1, self.total // _PLAIN_STEPS)

    def close(self) -> None:
        """Finishes the report (the final line, or closes the tqdm bar)."""
        elapsed = time.perf_counter() - self._t0
        if self.mode == "tqdm":
            self._bar.close()
        elif self.mode == "bar":
            self.stream.write("\n")
            self.stream.flush()
        else:
            self._plain(self._done, elapsed)

    def _plain(self, done: int, elapsed: float) -> None:
        pct = 100.0 * done / self.total if self.total else 100.0
        self.stream.write(f"predict: {done}/{self.total} rows ({pct:.0f}%) {elapsed:.2f}s\n")
        self.stream.flush()


def _tqdm_class() -> Any:
    """``tqdm.auto.tqdm`` if tqdm is installed, else None (imported only when a bar is shown)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm
