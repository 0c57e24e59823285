"""One conversion: a :class:`~pyrnn.keras_files.ModelSource` becomes a native plan.

The :class:`Converter` is the context every layer emitter works in: the plan being
built, the Keras dialect (``keras_major``), the mode ("predict", or "stream" where
recurrent layers on the time axis carry their states between calls), the compute type
of the recurrent layers (``compute_type``; every other op is float32), the states the
plan carries, and the checks and messages every layer shares. It knows no layer
class: :meth:`Converter.apply` looks the class up in the registry. Walking a model's
graph (Sequential or Functional) is ``graph.py``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .._recurrent import NativeRecurrent
from ..errors import ModelFormatError, StreamError, UnsupportedLayerError
from ..keras_config import layer_list
from ..keras_files import ModelSource
from . import graph
from .plan import CarriedState, LayerRow, OpInfo, Plan, Shape, Sym, shape_str
from .registry import KerasLayer, layer_type, support_problems


@dataclass
class ConvertedModel:
    """The result of a conversion: the native graph and what Model/Stream need to
    validate inputs, carry states and describe the model."""

    graph: Any  # _core.Graph, finalized
    inputs: List[Sym]
    outputs: List[Sym]
    input_names: List[str]
    output_names: List[str]
    states: List[CarriedState]  # extra plan inputs/outputs after the model's own, in order
    rows: List[LayerRow]  # the top-level layers, for summary()
    id_inputs: Dict[int, int]  # input slot read by an Embedding -> its input_dim
    ops: List[OpInfo] = field(default_factory=list)  # per native op: its layer and kind (profiles)


def convert_model(source: ModelSource, mode: str = "predict", compute_type: str = "float32") -> ConvertedModel:
    """Converts a model: raises UnsupportedLayerError listing every unsupported layer
    and option, ModelFormatError for configs or weights that do not fit, in "stream"
    mode StreamError for a layer that needs the whole sequence, and ComputeTypeError
    (a ValueError) for a recurrent layer whose weights ``compute_type`` cannot hold."""
    cv = Converter(source, mode, compute_type)
    inputs, outputs, in_names, out_names = cv.build()
    return ConvertedModel(cv.plan.graph, inputs, outputs, in_names, out_names, cv.states, cv.rows, cv.id_inputs,
                          cv.plan.ops)


class Converter:
    """The state of one conversion and the helpers layer emitters share."""

    def __init__(self, source: ModelSource, mode: str = "predict", compute_type: str = "float32") -> None:
        self.source = source
        self.mode = mode  # "predict", or "stream": every forward RNN on the time axis carries its state
        self.compute_type = compute_type  # canonical; the recurrent layers' arithmetic (pyrnn/_compute.py)
        self.states: List[CarriedState] = []
        self.keras_major = source.keras_major
        self.plan = Plan()
        self.rows: List[LayerRow] = []
        self._row_names: set = set()
        self.native_layers: Dict[Tuple[int, str], NativeRecurrent] = {}  # one per recurrent layer, shared calls too
        self.id_inputs: Dict[int, int] = {}  # slot read by an Embedding -> input_dim

    # -- errors and checks every layer uses -------------------------------------------------

    def unsupported_error(self, problems: List[str]) -> UnsupportedLayerError:
        """One error listing every unsupported layer or option of the model."""
        return UnsupportedLayerError(
            f"{self.source.name}: the model uses {len(problems)} unsupported layer(s) or option(s):\n  - "
            + "\n  - ".join(problems), problems)

    def error(self, layer: KerasLayer, msg: str) -> ModelFormatError:
        """A ModelFormatError naming the file and the layer."""
        return ModelFormatError(f"{self.source.name}: {layer.owner}: {msg}")

    def unsupported(self, layer: KerasLayer, msg: str) -> UnsupportedLayerError:
        """An UnsupportedLayerError naming the file and the layer."""
        return UnsupportedLayerError(f"{self.source.name}: {layer.owner}: {msg}")

    def weights(self, layer: KerasLayer, names: Sequence[str], shapes: Sequence[Optional[Shape]]) -> List[np.ndarray]:
        """The layer's weights, checked against the expected count and shapes."""
        if len(layer.weights) != len(names):
            got = [tuple(w.shape) for _, w in layer.weights]
            raise self.error(layer, f"expected {len(names)} weights ({', '.join(names) or 'none'}), the file has "
                                    f"{len(layer.weights)} {got}")
        out = []
        for (_, w), nm, shp in zip(layer.weights, names, shapes):
            if shp is not None and (len(shp) != w.ndim or any(e is not None and e != g for e, g in zip(shp, w.shape))):
                raise self.error(layer, f"weight {nm!r} has shape {tuple(w.shape)} in the file, "
                                        f"expected {shape_str(shp)}")
            if not np.isfinite(w).all():
                bad = int(np.size(w) - np.count_nonzero(np.isfinite(w)))
                raise self.error(layer, f"weight {nm!r} holds {bad} NaN or infinite value(s); the file is corrupt")
            out.append(np.ascontiguousarray(w, dtype=np.float32))
        return out

    def single_input(self, layer: KerasLayer, ins: List[Sym]) -> Sym:
        """The one input of a single-input layer."""
        if len(ins) != 1:
            raise self.error(layer, f"takes one input, got {len(ins)}")
        return ins[0]

    # -- whole models -----------------------------------------------------------------------

    def build(self) -> Tuple[List[Sym], List[Sym], List[str], List[str]]:
        """Checks every layer, then emits the model's plan and finalizes it."""
        cfg = self.source.config
        problems: List[str] = []
        for entry in layer_list(cfg):
            problems += support_problems(entry, self.keras_major)
        if problems:
            raise self.unsupported_error(problems)
        inputs, outputs, in_names, out_names = graph.convert_graph(self, cfg, self.source.weights, None, top=True)
        self.plan.finalize([s.slot for s in inputs] + [st.inp.slot for st in self.states],
                           [s.slot for s in outputs] + [st.out.slot for st in self.states])
        return inputs, outputs, in_names, out_names

    def new_input(self, shape: Shape) -> Sym:
        """A slot for a model input (in a stream, rank >= 3 inputs are on the time axis)."""
        sym = self.plan.new(shape)
        sym.timed = self.mode == "stream" and len(shape) >= 3
        return sym

    # -- one layer call ---------------------------------------------------------------------

    def apply(self, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any], top: bool) -> List[Sym]:
        """Emits one call of a layer on ``ins`` (``kw``: 'initial_state', 'mask')."""
        if "mask" in kw and ins:
            ins = [Sym(ins[0].slot, ins[0].shape, kw["mask"])] + ins[1:]
        kind = layer_type(layer.cls)
        if kind is None or kind.emit is None:  # support_problems lets nothing else through
            raise self.unsupported(layer, "layer type not supported")
        streaming = self.mode == "stream"
        if streaming and not kind.tracks_time:
            self._check_stepwise(layer, ins, kind.stepwise, kind.time_check)
        self.plan.layer_path.append((layer.name, layer.cls))  # wrappers and nested models apply their layers
        try:
            outs = kind.emit(self, layer, ins, kw)
        finally:
            self.plan.layer_path.pop()
        if streaming and kind.stepwise and any(s.timed for s in ins):
            outs = [Sym(o.slot, o.shape, o.mask, True) for o in outs]
        if top and layer.name not in self._row_names:
            self._row_names.add(layer.name)
            self.rows.append(LayerRow(layer.name, layer.cls, [o.shape for o in outs], layer.params))
        return outs

    def _check_stepwise(self, layer: KerasLayer, ins: List[Sym], stepwise: bool, time_check: Any) -> None:
        if not any(s.timed for s in ins):
            return
        why = None
        if not stepwise:
            why = "needs the whole sequence (it mixes timesteps)"
        elif time_check is not None:
            why = time_check(self, layer, ins)
        if why:
            raise self.stream_error(layer, why)

    def stream_error(self, layer: KerasLayer, why: str) -> StreamError:
        """Why the model cannot run step by step, naming the layer."""
        return StreamError(f"{self.source.name}: cannot stream: {layer.owner} {why}")
