"""Per-layer timings of a model's native plan: ``model.profile(x)`` returns a :class:`Profile`.

The native run loop times each op with a steady clock when (and only when) a call
asks for it; the timings live in that call, so profiling never slows down or disturbs
other calls on the same model. Python maps each op back to the Keras layer that
emitted it and aggregates.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Sequence, Tuple

import numpy as np

from .convert.plan import OpInfo

__all__ = ["Profile", "ProfileRow"]

#: The row holding the time of a call spent outside every op (slot bookkeeping, freeing
#: intermediates, returning outputs).
OUTSIDE_OPS = "(outside ops)"


@dataclass(frozen=True)
class ProfileRow:
    """One op kind of one Keras layer, over the timed runs.

    ``layer``: the Keras layer name; ``cls``: its Keras class; ``op``: the native op kind
    ("rnn", "bidirectional", "dense", ...); ``calls``: op executions timed (runs x ops of
    this kind in the layer); ``total_s``: their summed wall time; ``mean_s``: ``total_s``
    per run; ``share``: the fraction of the runs' whole wall time.
    """

    layer: str
    cls: str
    op: str
    calls: int
    total_s: float
    mean_s: float
    share: float


@dataclass(frozen=True)
class Profile:
    """Per-layer timings of ``repeats`` runs of a model's plan on one input.

    ``rows`` are sorted by total time, largest first; the row named ``"(outside ops)"``
    holds the part of the calls no op accounts for. ``wall_s`` holds the wall time of
    every timed run (seconds); ``mean_s`` / ``min_s`` summarise it. ``compute_type`` is the
    model's (the arithmetic of its recurrent layers).
    """

    model: str
    batch: int
    repeats: int
    warmup: int
    rows: Tuple[ProfileRow, ...]
    wall_s: Tuple[float, ...]
    compute_type: str = "float32"

    @classmethod
    def from_timings(cls, model: str, batch: int, warmup: int, ops: Sequence[OpInfo],
                     per_op: np.ndarray, wall: np.ndarray, compute_type: str = "float32") -> Profile:
        """Aggregates native timings (``per_op``: (repeats, num_ops) seconds; ``wall``:
        (repeats,) seconds) by (layer, op kind)."""
        repeats = int(wall.shape[0])
        if per_op.shape != (repeats, len(ops)):
            raise ValueError(f"profile: expected timings of shape ({repeats}, {len(ops)}), got {per_op.shape}")
        totals = per_op.sum(axis=0)
        whole = float(wall.sum())
        groups: Dict[Tuple[str, str, str], List[float]] = {}
        for info, t in zip(ops, totals):
            g = groups.setdefault((info.layer, info.cls, info.op), [0, 0.0])
            g[0] += repeats
            g[1] += float(t)
        outside = max(0.0, whole - float(totals.sum()))
        groups[(OUTSIDE_OPS, "", "")] = [repeats, outside]
        share = (lambda t: t / whole) if whole > 0 else (lambda t: 0.0)
        rows = [ProfileRow(layer, kls, op, int(n), t, t / repeats, share(t))
                for (layer, kls, op), (n, t) in groups.items()]
        rows.sort(key=lambda r: -r.total_s)
        return cls(model, batch, warmup=warmup, repeats=repeats, rows=tuple(rows),
                   wall_s=tuple(float(w) for w in wall), compute_type=compute_type)

    @property
    def mean_s(self) -> float:
        """Mean wall time of one timed run, in seconds."""
        return sum(self.wall_s) / len(self.wall_s)

    @property
    def min_s(self) -> float:
        """Fastest timed run, in seconds."""
        return min(self.wall_s)

    def to_dict(self) -> Dict[str, Any]:
        """Plain data (json-ready): the run settings, wall times and the rows."""
        return {
            "model": self.model,
            "batch": self.batch,
            "repeats": self.repeats,
            "warmup": self.warmup,
            "compute_type": self.compute_type,
            "mean_s": self.mean_s,
            "min_s": self.min_s,
            "wall_s": list(self.wall_s),
            "rows": [asdict(r) for r in self.rows],
        }

    def table(self) -> str:
        """The rows as an aligned text table, slowest first."""
        header = ("layer", "class", "op", "calls", "total", "mean/run", "share")
        body = [(r.layer, r.cls, r.op, str(r.calls), format_seconds(r.total_s), format_seconds(r.mean_s),
                 f"{100 * r.share:.1f}%") for r in self.rows]
        widths = [max(len(c) for c in col) for col in zip(header, *body)]
        right = (False, False, False, True, True, True, True)

        def line(cells: Sequence[str]) -> str:
            return "  ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)).rstrip()

        rule = "-" * len(line(header))
        return "\n".join([line(header), rule] + [line(b) for b in body])

    def __str__(self) -> str:
        ctype = f", compute_type {self.compute_type}" if self.compute_type != "float32" else ""
        return (f"Profile of {self.model!r}{ctype}: batch {self.batch}, {self.repeats} timed run(s) after "
                f"{self.warmup} warm-up; {format_seconds(self.mean_s)} per run (min {format_seconds(self.min_s)})\n"
                f"{self.table()}")

    def __repr__(self) -> str:
        top = self.rows[0] if self.rows else None
        slowest = f", slowest {top.layer!r} ({top.op}) {100 * top.share:.0f}%" if top else ""
        return (f"<pyrnn.Profile {self.model!r}: batch {self.batch}, {self.repeats} run(s), "
                f"{format_seconds(self.mean_s)} per run{slowest}>")

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython shows the table
        p.text(str(self))


def format_seconds(s: float) -> str:
    """A duration as "12.3 us", "4.56 ms" or "7.89 s" (the CLI's tables use it too)."""
    if s < 1e-3:
        return f"{s * 1e6:.1f} us"
    if s < 1.0:
        return f"{s * 1e3:.2f} ms"
    return f"{s:.2f} s"
