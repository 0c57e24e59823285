"""The plan a conversion emits, and what a converted model reports about itself.

A plan is a list of native ops on numbered slots (``_core.Graph``). While converting,
Python tracks each slot as a :class:`Sym` with its static shape and the Keras mask
that travels with it, so that shapes are validated and summaries printed without
running anything. :meth:`Plan.finalize` tells the native graph when each slot's last
reader has run, so intermediate buffers are freed (or reused) as early as possible.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from .. import _core

Shape = Tuple[Optional[int], ...]


def shape_str(shape: Shape) -> str:
    """A shape as Keras prints it: ``(None, 5, 3)``, ``(4,)``."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


@dataclass
class Sym:
    """A symbolic tensor: a plan slot, its static shape (None: known at run time) and
    the Keras mask travelling with it."""

    slot: int
    shape: Shape
    mask: Optional[Sym] = None
    timed: bool = False  # streaming: axis 1 is the stream's time axis


@dataclass
class CarriedState:
    """A recurrent state a plan carries between calls (stateful layers, streams): read
    from an extra plan input, written to an extra plan output."""

    layer: str
    kind: str  # "h", "c" or "prev" (the last valid output, for masked steps)
    width: int
    inp: Sym
    out: Sym


@dataclass(frozen=True)
class OpInfo:
    """Where a native op comes from: the Keras layer that emitted it (its name, with the
    wrappers and nested models around it: "td/dense", "encoder/lstm"; and its class)
    and the op's kind (the ``_core.Graph`` method: "rnn", "dense", ...)."""

    layer: str
    cls: str
    op: str


@dataclass
class LayerRow:
    """What Model.summary prints for a top-level layer."""

    name: str
    cls: str
    output_shapes: List[Shape]
    params: int
    inbound: List[str] = field(default_factory=list)


class Plan:
    """Slots and ops, emitted in execution order."""

    def __init__(self) -> None:
        self.graph = _core.Graph()
        self.num_slots = 0
        self.io: List[Tuple[List[int], List[int]]] = []
        # Per native op, in order: the Keras layer that emitted it and the op kind, for profiles.
        self.ops: List[OpInfo] = []
        # The layers being emitted, outermost first (a wrapper or nested model, then the
        # layer inside it): Converter.apply pushes and pops them.
        self.layer_path: List[Tuple[str, str]] = []

    def new(self, shape: Shape, mask: Optional[Sym] = None) -> Sym:
        """A fresh slot of the given static shape."""
        self.num_slots += 1
        return Sym(self.num_slots - 1, tuple(shape), mask)

    def emit(self, op: str, layer: str, ins: Sequence[int], outs: Sequence[int], *args: Any) -> None:
        """Appends one native op (``_core.Graph.<op>``) that takes (ins, outs) slot lists;
        slot -1 means "absent"."""
        getattr(self.graph, op)(layer, list(ins), list(outs), *args)
        self.io.append((list(ins), list(outs)))
        self._record(layer, op)

    def emit_named(self, op: str, layer: str, ins: Mapping[str, Union[int, Sequence[int]]],
                   outs: Mapping[str, int], *args: Any, **options: Any) -> None:
        """Appends one native op whose slots are keyword arguments named by their role
        (``x``, ``mask``, ``h0``...; -1 or left out: absent). ``ins`` and ``outs`` only
        differ in how :meth:`finalize` counts their uses."""
        getattr(self.graph, op)(layer, *args, **ins, **outs, **options)
        flat = [s for v in ins.values() for s in ([v] if isinstance(v, int) else v)]
        self.io.append((flat, list(outs.values())))
        self._record(layer, op)

    def _record(self, layer: str, op: str) -> None:
        path = "/".join(name for name, _ in self.layer_path) or layer
        self.ops.append(OpInfo(path, self.layer_path[-1][1] if self.layer_path else "", op))

    def finalize(self, inputs: List[int], outputs: List[int]) -> None:
        """Fixes the plan's inputs and outputs and frees each other slot after its last use."""
        last: Dict[int, int] = {}
        for i, (ins, outs) in enumerate(self.io):
            for s in outs:
                if s >= 0:
                    last.setdefault(s, i)
            for s in ins:
                if s >= 0:
                    last[s] = i
        keep = set(outputs)
        release: List[List[int]] = [[] for _ in self.io]
        for s, i in last.items():
            if s not in keep:
                release[i].append(s)
        self.graph.finalize(self.num_slots, inputs, outputs, release)
