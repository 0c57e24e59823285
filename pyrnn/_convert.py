"""Turning a Keras model config and its weights into a native plan.

Python owns the meaning here: the two Keras dialects (Keras 3 and tf-keras 2), node
and tensor references, mask propagation, static shapes for validation and summaries,
and every error message. Each layer becomes one or a few ops of ``_core.Graph``; a
predict call then runs the whole plan in C++.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import _core, _keras
from ._files import MODEL_CLASSES, RNN_CLASSES, ModelSource, WeightList, is_op_node, layer_list, layer_name
from .activations import resolve
from .errors import ModelFormatError, UnsupportedLayerError
from .layers import GRU, LSTM, SimpleRNN

Shape = Tuple[Optional[int], ...]

_CELLS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}
_IDENTITY = ("Dropout", "SpatialDropout1D", "GaussianNoise", "GaussianDropout", "AlphaDropout",
             "ActivityRegularization", "Identity")
_MERGES = {"Add": 0, "Subtract": 1, "Multiply": 2, "Average": 3, "Maximum": 4, "Minimum": 5, "Concatenate": 6}
_MERGE_MODES = {"concat": 0, "sum": 1, "mul": 2, "ave": 3, None: 4}


@dataclass
class Sym:
    """A symbolic tensor: a plan slot, its static shape (None: known at run time) and
    the Keras mask travelling with it."""

    slot: int
    shape: Shape
    mask: Optional["Sym"] = None
    timed: bool = False  # streaming: axis 1 is the stream's time axis


@dataclass
class Spec:
    """One layer of the config with its weights."""

    cls: str
    name: str
    cfg: Dict[str, Any]
    weights: WeightList
    module: str = ""
    raw: Dict[str, Any] = field(default_factory=dict)  # the layer's entry in the config

    @property
    def owner(self) -> str:
        return f"layer {self.name!r} ({self.cls})"


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

    def new(self, shape: Shape, mask: Optional[Sym] = None) -> Sym:
        self.num_slots += 1
        return Sym(self.num_slots - 1, tuple(shape), mask)

    def emit(self, method: str, layer: str, ins: Sequence[int], outs: Sequence[int], *args: Any) -> None:
        getattr(self.graph, method)(layer, list(ins), list(outs), *args)
        self.io.append((list(ins), list(outs)))

    def finalize(self, inputs: List[int], outputs: List[int]) -> None:
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


def _dtype_name(dtype: Any) -> Optional[str]:
    if isinstance(dtype, dict):
        cfg = dtype.get("config")
        if isinstance(cfg, dict):
            return cfg.get("name")
        return dtype.get("class_name")
    return dtype if isinstance(dtype, str) else None


def _as_list(v: Any) -> List[Any]:
    return list(v) if isinstance(v, (list, tuple)) else [v]


def _int(v: Any, owner: str, what: str) -> int:
    v = v[0] if isinstance(v, (list, tuple)) and len(v) == 1 else v
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or int(v) != v:
        raise ModelFormatError(f"{owner}: {what} must be an integer, got {v!r}")
    return int(v)


def _pos(v: Any, owner: str, what: str) -> int:
    n = _int(v, owner, what)
    if n < 1:
        raise ModelFormatError(f"{owner}: {what} must be at least 1, got {n}")
    return n


def _act_code(name: Any, kv: int, owner: str) -> int:
    try:
        return resolve(_keras.activation_name(name, owner), kv)
    except (ValueError, TypeError) as exc:
        raise UnsupportedLayerError(f"{owner}: {exc}", [f"{owner}: {exc}"]) from None


def _shape_str(shape: Shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


def _params(spec: Spec) -> int:
    return int(sum(int(np.prod(w.shape)) for _, w in spec.weights))


# -------------------------------------------------------------------------------------------
# Support checks: every unsupported layer and option of the whole model, at once.

_SUPPORTED = set(_CELLS) | set(_IDENTITY) | set(_MERGES) | set(MODEL_CLASSES) | {
    "InputLayer", "Dense", "Activation", "Embedding", "Masking", "Bidirectional", "TimeDistributed", "Flatten",
    "Reshape", "RepeatVector", "Permute", "BatchNormalization", "LayerNormalization", "Conv1D", "MaxPooling1D",
    "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "ReLU", "LeakyReLU", "ELU", "PReLU",
    "Softmax",
}
_WHY = {
    "Lambda": "Lambda layers hold Python code; pyrnn never executes code from a model file",
    "TFOpLambda": "TensorFlow operations in the graph are not supported",
}


def unsupported(layer_cfg: Dict[str, Any], kv: int, depth: int = 0, in_model: bool = False) -> List[str]:
    """Problems with one layer config (recursing into wrappers and nested models)."""
    cls = str(layer_cfg.get("class_name", "?"))
    cfg = layer_cfg.get("config") if isinstance(layer_cfg.get("config"), dict) else {}
    try:
        name = layer_name(layer_cfg)
    except ModelFormatError:
        name = "?"
    who = f"{name!r} ({cls})"
    if depth > 64:
        return [f"{who}: nested more than 64 levels deep"]
    if is_op_node(layer_cfg):
        return []  # judged by use in Converter._functional: mask computations are fine
    if cls not in _SUPPORTED:
        registered = layer_cfg.get("registered_name")
        if cls in _WHY:
            why = _WHY[cls]
        elif isinstance(registered, str) and registered and registered != cls and not registered.startswith("keras"):
            why = f"custom layer {registered!r}; pyrnn does not run custom code"
        else:
            why = "layer type not supported"
        return [f"{who}: {why}"]
    problems: List[str] = []
    dt = _dtype_name(cfg.get("dtype"))
    if cls != "InputLayer" and dt not in (None, "float32"):
        problems.append(f"{who}: dtype policy {dt!r}; pyrnn computes in float32 and would not match it")
    if cls in _CELLS:
        if cfg.get("stateful") and not (depth == 0 or in_model):
            return [f"{who}: stateful=True is supported on plain recurrent layers, not inside a wrapper"]
        try:
            _keras.check_rnn_config(cfg, who, allow_stateful=True)
        except ValueError as exc:
            problems.append(str(exc))
        for key in ("activation", "recurrent_activation"):
            if key in cfg and (key == "activation" or cls != "SimpleRNN"):
                try:
                    resolve(_keras.activation_name(cfg[key], who), kv)
                except (ValueError, TypeError) as exc:
                    problems.append(str(exc) if who in str(exc) else f"{who}: {exc}")
    elif cls in ("Bidirectional", "TimeDistributed"):
        for key in ("layer", "backward_layer"):
            sub = cfg.get(key)
            if isinstance(sub, dict):
                problems += [f"{who} wraps {p}" for p in unsupported(sub, kv, depth + 1)]
        if cls == "Bidirectional":
            inner = (cfg.get("layer") or {}).get("class_name")
            if inner not in _CELLS:
                problems.append(f"{who}: wraps a {inner}; pyrnn supports SimpleRNN, LSTM and GRU there")
    elif cls in MODEL_CLASSES:
        try:
            for sub in layer_list(layer_cfg):
                problems += unsupported(sub, kv, depth + 1, in_model=True)
        except ModelFormatError as exc:
            problems.append(f"{who}: {exc}")
    elif cls in ("Dense", "Conv1D", "Activation"):
        act = cfg.get("activation", "linear")
        if isinstance(act, dict) and act.get("class_name") in ("ReLU", "LeakyReLU", "ELU", "Softmax"):
            problems += unsupported(act, kv, depth + 1) if "name" in (act.get("config") or {}) else []
        else:
            try:
                resolve(_keras.activation_name(act, who), kv)
            except (ValueError, TypeError) as exc:
                problems.append(str(exc) if who in str(exc) else f"{who}: {exc}")
        if cfg.get("lora_rank") or cfg.get("quantization_config"):
            problems.append(f"{who}: LoRA or quantized weights are not supported")
        if cls == "Conv1D":
            if cfg.get("data_format", "channels_last") != "channels_last":
                problems.append(f"{who}: data_format={cfg.get('data_format')!r}; only channels_last is supported")
            if int(cfg.get("groups", 1) or 1) != 1:
                problems.append(f"{who}: groups={cfg.get('groups')} is not supported")
            if cfg.get("padding", "valid") not in ("valid", "same", "causal"):
                problems.append(f"{who}: padding={cfg.get('padding')!r} is not supported")
    elif cls in ("MaxPooling1D", "AveragePooling1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        if cfg.get("data_format", "channels_last") != "channels_last":
            problems.append(f"{who}: data_format={cfg.get('data_format')!r}; only channels_last is supported")
        if cfg.get("padding", "valid") not in ("valid", "same"):
            problems.append(f"{who}: padding={cfg.get('padding')!r} is not supported")
    elif cls == "Embedding":
        if cfg.get("lora_rank") or cfg.get("quantization_config"):
            problems.append(f"{who}: LoRA or quantized embeddings are not supported")
        if cfg.get("sparse"):
            problems.append(f"{who}: sparse embeddings are not supported")
    elif cls == "BatchNormalization":
        if cfg.get("renorm"):
            problems.append(f"{who}: renorm=True is not supported")
    elif cls == "Softmax":
        if _as_list(cfg.get("axis", -1)) != [-1]:
            problems.append(f"{who}: axis={cfg.get('axis')!r}; only the last axis is supported")
    return problems


# -------------------------------------------------------------------------------------------
# The converter: one model (or nested model) at a time.


@dataclass
class StateSpec:
    """A recurrent state a plan carries between calls (stateful layers, streams)."""

    layer: str
    kind: str  # "h", "c" or "prev" (the last valid output, for masked steps)
    width: int
    inp: Sym
    out: Sym


# Layers that map each timestep on its own: a stream can run them one chunk at a time.
_STEPWISE = set(_IDENTITY) | set(_MERGES) | {
    "Dense", "Activation", "Embedding", "Masking", "TimeDistributed", "BatchNormalization", "LayerNormalization",
    "ReLU", "LeakyReLU", "ELU", "PReLU", "Softmax",
}


class StreamError(ValueError):
    """The model cannot run step by step (a layer needs the whole sequence)."""


class Converter:
    def __init__(self, src: ModelSource, mode: str = "predict") -> None:
        self.src = src
        self.mode = mode  # "predict", or "stream": every forward RNN on the time axis carries its state
        self.states: List[StateSpec] = []
        self.kv = src.keras_major
        self.plan = Plan()
        self.rows: List[LayerRow] = []
        self._row_names: set = set()
        self._rnn_cache: Dict[Tuple[int, str], Any] = {}
        self.id_inputs: Dict[int, int] = {}  # slot read by an Embedding -> input_dim

    # -- errors ----------------------------------------------------------------------

    def unsupported_error(self, problems: List[str]) -> UnsupportedLayerError:
        """One error listing every unsupported layer or option of the model."""
        return UnsupportedLayerError(
            f"{self.src.name}: the model uses {len(problems)} unsupported layer(s) or option(s):\n  - "
            + "\n  - ".join(problems), problems)

    def error(self, spec: Spec, msg: str) -> ModelFormatError:
        return ModelFormatError(f"{self.src.name}: {spec.owner}: {msg}")

    def weights(self, spec: Spec, names: Sequence[str], shapes: Sequence[Optional[Shape]]) -> List[np.ndarray]:
        """The layer's weights, checked against the expected count and shapes."""
        if len(spec.weights) != len(names):
            got = [tuple(w.shape) for _, w in spec.weights]
            raise self.error(spec, f"expected {len(names)} weights ({', '.join(names) or 'none'}), the file has "
                                   f"{len(spec.weights)} {got}")
        out = []
        for (path, w), nm, shp in zip(spec.weights, names, shapes):
            if shp is not None and (len(shp) != w.ndim or any(e is not None and e != g for e, g in zip(shp, w.shape))):
                raise self.error(spec, f"weight {nm!r} has shape {tuple(w.shape)} in the file, expected {_shape_str(shp)}")
            if not np.isfinite(w).all():
                bad = int(np.size(w) - np.count_nonzero(np.isfinite(w)))
                raise self.error(spec, f"weight {nm!r} holds {bad} NaN or infinite value(s); the file is corrupt")
            out.append(np.ascontiguousarray(w, dtype=np.float32))
        return out

    # -- whole models -----------------------------------------------------------------

    def build(self) -> Tuple[List[Sym], List[Sym], List[str], List[str]]:
        cfg = self.src.config
        problems: List[str] = []
        for lc in layer_list(cfg):
            problems += unsupported(lc, self.kv)
        if problems:
            raise self.unsupported_error(problems)
        inputs, outputs, in_names, out_names = self.model(cfg, self.src.weights, None, top=True)
        self.plan.finalize([s.slot for s in inputs] + [st.inp.slot for st in self.states],
                           [s.slot for s in outputs] + [st.out.slot for st in self.states])
        return inputs, outputs, in_names, out_names

    def _new_input(self, shape: Shape) -> Sym:
        sym = self.plan.new(shape)
        sym.timed = self.mode == "stream" and len(shape) >= 3
        return sym

    def _specs(self, model_cfg: Dict[str, Any], weights: Dict[str, WeightList]) -> Dict[str, Spec]:
        specs: Dict[str, Spec] = {}
        for lc in layer_list(model_cfg):
            name = layer_name(lc)
            if name in specs:
                raise ModelFormatError(f"{self.src.name}: two layers are named {name!r}")
            cfg = lc.get("config") if isinstance(lc.get("config"), dict) else {}
            specs[name] = Spec(str(lc.get("class_name")), name, cfg, list(weights.get(name, [])),
                               str(lc.get("module", "")), lc)
        return specs

    def _input_shape(self, spec: Spec) -> Shape:
        cfg = spec.cfg
        shape = cfg.get("batch_shape", cfg.get("batch_input_shape"))
        if shape is None and cfg.get("input_shape") is not None:
            shape = [None] + list(cfg["input_shape"])
        if not isinstance(shape, (list, tuple)) or not shape:
            raise ModelFormatError(f"{self.src.name}: {spec.owner}: no input shape in the config")
        return tuple(None if (d is None or i == 0) else _pos(d, spec.owner, "an input dimension")
                     for i, d in enumerate(shape))

    def model(self, model_cfg: Dict[str, Any], weights: Dict[str, WeightList], given: Optional[List[Sym]],
              top: bool = False) -> Tuple[List[Sym], List[Sym], List[str], List[str]]:
        if model_cfg.get("class_name") == "Sequential":
            return self._sequential(model_cfg, weights, given, top)
        return self._functional(model_cfg, weights, given, top)

    def _sequential(self, model_cfg, weights, given, top):
        specs = list(self._specs(model_cfg, weights).values())
        first = specs[0] if specs else None
        if given is not None:
            x = given[0]
            in_name = "input"
        else:
            if first is not None and first.cls == "InputLayer":
                shape = self._input_shape(first)
                in_name = first.name
            else:
                mc = model_cfg.get("config", {})
                shape = mc.get("build_input_shape")
                if shape is None and first is not None:
                    shape = first.cfg.get("batch_input_shape") or first.cfg.get("batch_shape")
                if not isinstance(shape, (list, tuple)):
                    raise ModelFormatError(
                        f"{self.src.name}: the Sequential model records no input shape (it was never built)"
                    )
                shape = tuple(None if d is None else int(d) for d in shape)
                in_name = "input"
            x = self._new_input(shape)
        inputs = [x]
        for spec in specs:
            if spec.cls == "InputLayer":
                continue
            outs = self.apply(spec, [x], {}, top)
            if len(outs) != 1:
                raise self.error(spec, f"returns {len(outs)} tensors; a Sequential layer must return one")
            x = outs[0]
        return inputs, [x], [in_name], [specs[-1].name if specs else "output"]

    def _functional(self, model_cfg, weights, given, top):
        specs = self._specs(model_cfg, weights)
        mc = model_cfg.get("config", {})

        def triples(v: Any, what: str) -> List[Tuple[str, int, int]]:
            if isinstance(v, list) and len(v) == 3 and isinstance(v[0], str):
                v = [v]
            if not isinstance(v, list) or not v:
                raise ModelFormatError(f"{self.src.name}: the model config has no {what}")
            out = []
            for t in v:
                if not (isinstance(t, list) and len(t) >= 3 and isinstance(t[0], str)):
                    raise ModelFormatError(f"{self.src.name}: malformed {what} entry {t!r}")
                out.append((t[0], _int(t[1], "model", what), _int(t[2], "model", what)))
            return out

        in_refs = triples(mc.get("input_layers"), "input_layers")
        out_refs = triples(mc.get("output_layers"), "output_layers")
        computed: Dict[Tuple[str, int], List[Sym]] = {}
        if given is not None and len(given) != len(in_refs):
            raise ModelFormatError(
                f"{self.src.name}: nested model {mc.get('name')!r} takes {len(in_refs)} inputs, got {len(given)}"
            )
        inputs = []
        for i, (name, _, _) in enumerate(in_refs):
            spec = specs.get(name)
            if spec is None or spec.cls != "InputLayer":
                raise ModelFormatError(f"{self.src.name}: model input {name!r} is not an InputLayer of the model")
            sym = given[i] if given is not None else self._new_input(self._input_shape(spec))
            computed[(name, 0)] = [sym]
            inputs.append(sym)

        nodes = {name: self._nodes(spec) for name, spec in specs.items()}
        # Keras 3 records the mask computations as operation nodes; pyrnn propagates
        # masks itself and ignores them. An operation whose result feeds a layer's data
        # (x + 1 in a functional model, say) is not supported.
        ops_used = []
        data_refs = [(None, r) for r in out_refs]
        for name, ns in nodes.items():
            if is_op_node(specs[name].raw):
                continue
            for args, kwargs in ns:
                data_refs += [(name, r) for r in list(args) + list(kwargs.get("initial_state", []))]
        for user, r in data_refs:
            target = specs.get(r[0])
            if target is not None and is_op_node(target.raw):
                where = f"layer {user!r}" if user else "a model output"
                ops_used.append(f"{r[0]!r} ({target.cls}): a Keras operation feeding {where} is not supported")
        if ops_used:
            raise self.unsupported_error(ops_used)
        # tf-keras numbers the calls of a nested model that has its own Input from 1:
        # call 0 is the model's construction, which the config leaves out.
        shift: Dict[str, int] = {}
        if self.kv < 3:
            refs_all = list(out_refs)
            for ns in nodes.values():
                for args, kwargs in ns:
                    refs_all += list(args) + list(kwargs.get("initial_state", []))
            for name, ni, _ in refs_all:
                spec = specs.get(name)
                if spec is not None and spec.cls in MODEL_CLASSES and ni >= len(nodes[name]) > 0:
                    shift[name] = 1

        def node_of(ref: Tuple[str, int, int]) -> Tuple[str, int]:
            name, ni, _ = ref
            ni -= shift.get(name, 0)
            if name not in specs:
                raise ModelFormatError(f"{self.src.name}: a node refers to an unknown layer {name!r}")
            if (name, ni) not in computed and (specs[name].cls == "InputLayer" or ni >= len(nodes[name])):
                raise ModelFormatError(f"{self.src.name}: a node refers to call {ni} of layer {name!r}, which does not exist")
            return (name, ni)

        def deps(key: Tuple[str, int]) -> List[Tuple[str, int]]:
            args, kwargs = nodes[key[0]][key[1]]
            refs = list(args) + [r for r in kwargs.get("initial_state", [])]
            m = kwargs.get("mask")
            if m is not None and specs.get(m[0]) is not None and not is_op_node(specs[m[0]].raw):
                refs.append(m)
            return [node_of(r) for r in refs]

        # Iterative depth-first evaluation (deep graphs must not hit Python's recursion
        # limit; a cycle is an error, not a hang).
        for ref in out_refs:
            target = node_of(ref)
            stack = [(target, False)]
            on_path = set()
            while stack:
                key, expanded = stack.pop()
                if key in computed:
                    continue
                if expanded:
                    on_path.discard(key)
                    self._evaluate(specs[key[0]], key[1], nodes[key[0]][key[1]], computed, specs, top, shift)
                    continue
                if key in on_path:
                    raise ModelFormatError(f"{self.src.name}: the graph has a cycle through layer {key[0]!r}")
                on_path.add(key)
                stack.append((key, True))
                for d in deps(key):
                    if d not in computed:
                        if d in on_path:
                            raise ModelFormatError(f"{self.src.name}: the graph has a cycle through layer {d[0]!r}")
                        stack.append((d, False))
        outputs = []
        for name, ni, ti in out_refs:
            outs = computed[(name, ni - shift.get(name, 0))]
            if ti >= len(outs):
                raise ModelFormatError(f"{self.src.name}: output refers to tensor {ti} of layer {name!r}, which has {len(outs)}")
            outputs.append(outs[ti])
        return inputs, outputs, [r[0] for r in in_refs], [r[0] for r in out_refs]

    def _nodes(self, spec: Spec) -> List[Tuple[List[Tuple[str, int, int]], Dict[str, Any]]]:
        """A layer's inbound nodes as (tensor refs, {'initial_state': [...], 'mask': ref})."""
        return parse_inbound(spec.raw, f"{self.src.name}: {spec.owner}")

    def _evaluate(self, spec, ni, node, computed, specs, top, shift):
        args, kwargs = node
        ins = []
        for r in args:
            outs = computed[(r[0], r[1] - shift.get(r[0], 0))]
            if r[2] >= len(outs):
                raise ModelFormatError(f"{self.src.name}: {spec.owner} reads tensor {r[2]} of layer {r[0]!r}, which has {len(outs)}")
            if is_op_node(specs[r[0]].raw):
                raise UnsupportedLayerError(f"{self.src.name}: {spec.owner} takes the output of a Keras operation node")
            ins.append(outs[r[2]])
        kw: Dict[str, Any] = {}
        states = []
        for r in kwargs.get("initial_state", []):
            outs = computed[(r[0], r[1] - shift.get(r[0], 0))]
            if r[2] >= len(outs):
                raise ModelFormatError(f"{self.src.name}: {spec.owner} reads state {r[2]} of layer {r[0]!r}, which has {len(outs)}")
            states.append(outs[r[2]])
        if states:
            kw["initial_state"] = states
        m = kwargs.get("mask")
        if m is not None and specs.get(m[0]) is not None and not is_op_node(specs[m[0]].raw):
            outs = computed[(m[0], m[1] - shift.get(m[0], 0))]
            if m[2] >= len(outs):
                raise ModelFormatError(f"{self.src.name}: {spec.owner} reads mask {m[2]} of layer {m[0]!r}, which has {len(outs)}")
            kw["mask"] = outs[m[2]]
        computed[(spec.name, ni)] = self.apply(spec, ins, kw, top)

    # -- one layer call ---------------------------------------------------------------

    def apply(self, spec: Spec, ins: List[Sym], kw: Dict[str, Any], top: bool) -> List[Sym]:
        if "mask" in kw and ins:
            ins = [Sym(ins[0].slot, ins[0].shape, kw["mask"])] + ins[1:]
        fn = getattr(self, "_l_" + spec.cls, None)
        if spec.cls in _IDENTITY:
            fn = self._identity
        elif spec.cls in _MERGES:
            fn = self._merge
        elif spec.cls in _CELLS:
            fn = self._rnn
        elif spec.cls in MODEL_CLASSES:
            fn = self._nested
        if fn is None:  # unsupported() lets nothing else through
            raise UnsupportedLayerError(f"{self.src.name}: {spec.owner}: layer type not supported")
        if self.mode == "stream" and spec.cls not in MODEL_CLASSES and spec.cls not in _CELLS:
            self._check_stepwise(spec, ins)
        outs = fn(spec, ins, kw)
        if self.mode == "stream" and spec.cls in _STEPWISE and any(s.timed for s in ins):
            outs = [Sym(o.slot, o.shape, o.mask, True) for o in outs]
        if top and spec.name not in self._row_names:
            self._row_names.add(spec.name)
            self.rows.append(LayerRow(spec.name, spec.cls, [o.shape for o in outs], _params(spec)))
        return outs

    def _check_stepwise(self, spec: Spec, ins: List[Sym]) -> None:
        if not any(s.timed for s in ins):
            return
        why = None
        if spec.cls not in _STEPWISE:
            why = "needs the whole sequence (it mixes timesteps)"
        elif spec.cls == "LayerNormalization" and 1 in self._axes(spec, ins[0]):
            why = "normalises over the time axis"
        elif spec.cls == "Concatenate":
            axis = _int(spec.cfg.get("axis", -1), spec.owner, "axis")
            if (axis + len(ins[0].shape) if axis < 0 else axis) == 1:
                why = "concatenates along the time axis"
        if why:
            raise StreamError(f"model {self.src.name}: cannot stream: {spec.owner} {why}")

    def _single(self, spec: Spec, ins: List[Sym]) -> Sym:
        if len(ins) != 1:
            raise self.error(spec, f"takes one input, got {len(ins)}")
        return ins[0]

    def _identity(self, spec, ins, kw):
        self.weights(spec, [], [])
        return [self._single(spec, ins)]

    # Dense & activations ---------------------------------------------------------------

    def _activation_after(self, spec: Spec, act: Any, x: Sym) -> Sym:
        """An activation given as a layer object inside Dense/Conv1D (Keras 3 serialises it)."""
        sub = Spec(str(act.get("class_name")), f"{spec.name}.activation", act.get("config") or {}, [])
        return getattr(self, "_l_" + sub.cls)(sub, [x], {})[0]

    def _act_and_rest(self, spec: Spec) -> Tuple[int, Any]:
        act = spec.cfg.get("activation", "linear")
        if isinstance(act, dict) and act.get("class_name") in ("ReLU", "LeakyReLU", "ELU", "Softmax"):
            return 0, act
        return _act_code(act, self.kv, spec.owner), None

    def _l_Dense(self, spec, ins, kw):
        x = self._single(spec, ins)
        units = _int(spec.cfg.get("units"), spec.owner, "units")
        use_bias = spec.cfg.get("use_bias", True)
        K = x.shape[-1] if len(x.shape) >= 2 else None
        if len(x.shape) < 2:
            raise self.error(spec, f"expects an input of rank >= 2, got {_shape_str(x.shape)}")
        w = self.weights(spec, ["kernel", "bias"][: 1 + bool(use_bias)], [(K, units), (units,)][: 1 + bool(use_bias)])
        code, layer_act = self._act_and_rest(spec)
        y = self.plan.new(x.shape[:-1] + (units,), x.mask)
        self.plan.emit("dense", spec.name, [x.slot], [y.slot], w[0], w[1] if use_bias else None, code)
        return [self._activation_after(spec, layer_act, y) if layer_act else y]

    def _l_Activation(self, spec, ins, kw):
        x = self._single(spec, ins)
        act = spec.cfg.get("activation", "linear")
        if isinstance(act, dict) and act.get("class_name") in ("ReLU", "LeakyReLU", "ELU", "Softmax"):
            return [self._activation_after(spec, act, x)]
        code = _act_code(act, self.kv, spec.owner)
        if code == 0:
            return [x]
        y = self.plan.new(x.shape, x.mask)
        self.plan.emit("activation", spec.name, [x.slot], [y.slot], code)
        return [y]

    def _param_act(self, spec, x, kind, a=0.0, b=0.0, c=0.0, param=None):
        y = self.plan.new(x.shape, x.mask)
        self.plan.emit("param_activation", spec.name, [x.slot], [y.slot], kind, float(a), float(b), float(c), param)
        return [y]

    def _l_ReLU(self, spec, ins, kw):
        x = self._single(spec, ins)
        mv = spec.cfg.get("max_value")
        slope = float(spec.cfg.get("negative_slope", 0.0) or 0.0)
        thr = float(spec.cfg.get("threshold", 0.0) or 0.0)
        if mv is None and slope == 0.0 and thr == 0.0:
            y = self.plan.new(x.shape, x.mask)
            self.plan.emit("activation", spec.name, [x.slot], [y.slot], resolve("relu", self.kv))
            return [y]
        return self._param_act(spec, x, 0, float("nan") if mv is None else float(mv), slope, thr)

    def _l_LeakyReLU(self, spec, ins, kw):
        x = self._single(spec, ins)
        slope = spec.cfg.get("negative_slope", spec.cfg.get("alpha", 0.3))
        return self._param_act(spec, x, 1, float(slope))

    def _l_ELU(self, spec, ins, kw):
        x = self._single(spec, ins)
        return self._param_act(spec, x, 2, float(spec.cfg.get("alpha", 1.0)))

    def _l_PReLU(self, spec, ins, kw):
        x = self._single(spec, ins)
        alpha_shape = list(x.shape[1:])
        for ax in _as_list(spec.cfg.get("shared_axes") or []):
            ax = _int(ax, spec.owner, "shared_axes")
            if 1 <= ax < len(x.shape):
                alpha_shape[ax - 1] = 1
        (alpha,) = self.weights(spec, ["alpha"], [tuple(alpha_shape)])
        return self._param_act(spec, x, 3, param=alpha)

    def _l_Softmax(self, spec, ins, kw):
        x = self._single(spec, ins)
        if x.mask is not None:
            raise UnsupportedLayerError(
                f"{self.src.name}: {spec.owner} receives a mask; a masked Softmax layer is not supported"
            )
        y = self.plan.new(x.shape, None)
        self.plan.emit("activation", spec.name, [x.slot], [y.slot], resolve("softmax", self.kv))
        return [y]

    # Embedding & masking ------------------------------------------------------------------

    def _l_Embedding(self, spec, ins, kw):
        x = self._single(spec, ins)
        V = _int(spec.cfg.get("input_dim"), spec.owner, "input_dim")
        E = _int(spec.cfg.get("output_dim"), spec.owner, "output_dim")
        if V > (1 << 24):
            raise self.error(spec, f"input_dim={V} exceeds 2**24 ids, which float32 inputs cannot address exactly")
        (table,) = self.weights(spec, ["embeddings"], [(V, E)])
        self.id_inputs[x.slot] = V
        mask_zero = bool(spec.cfg.get("mask_zero", False))
        m = self.plan.new(x.shape) if mask_zero else None
        y = self.plan.new(x.shape + (E,), m)
        if self.mode == "stream" and len(x.shape) == 2:  # (batch, time) ids
            x.timed = y.timed = True
        self.plan.emit("embedding", spec.name, [x.slot], [y.slot, m.slot if m else -1], table, mask_zero)
        return [y]

    def _l_Masking(self, spec, ins, kw):
        x = self._single(spec, ins)
        if len(x.shape) != 3:
            raise self.error(spec, f"expects (batch, time, features), got {_shape_str(x.shape)}")
        m = self.plan.new(x.shape[:2])
        y = self.plan.new(x.shape, m)
        self.plan.emit("masking", spec.name, [x.slot], [y.slot, m.slot], float(spec.cfg.get("mask_value", 0.0)))
        return [y]

    # Recurrent layers ----------------------------------------------------------------------

    def _cell(self, spec: Spec, cfg: Dict[str, Any], cls: str, weights: List[np.ndarray], role: str):
        key = (id(spec.cfg), role)  # config dicts live as long as the conversion
        if key not in self._rnn_cache:
            try:
                self._rnn_cache[key] = _CELLS[cls].from_config(dict(cfg, stateful=False), weights, keras_version=self.kv)
            except (ValueError, TypeError) as exc:
                raise ModelFormatError(f"{self.src.name}: {spec.owner}: {exc}") from None
        return self._rnn_cache[key]

    def _rnn_weights(self, spec: Spec, cls: str, cfg: Dict[str, Any], D: Optional[int], pairs: WeightList):
        units = _int(cfg.get("units"), spec.owner, "units")
        G = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[cls]
        use_bias = cfg.get("use_bias", True)
        bias_shape = (2, G * units) if cls == "GRU" and cfg.get("reset_after", True) else (G * units,)
        names = ["kernel", "recurrent_kernel", "bias"][: 2 + bool(use_bias)]
        shapes = [(D, G * units), (units, G * units), bias_shape][: 2 + bool(use_bias)]
        sub = Spec(spec.cls, spec.name, cfg, pairs)
        return units, self.weights(sub, names, shapes)

    def _states(self, spec: Spec, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
        states = list(kw.get("initial_state", [])) + list(ins[1:])
        return states

    def _rnn_mask(self, x: Sym, states: List[Sym], kw: Dict[str, Any]) -> int:
        """The mask slot a recurrent call uses. Keras 3 hands the propagated mask only
        to calls with a single tensor argument: with initial states the layer runs
        unmasked (its output still carries the mask). tf-keras always applies it."""
        if x.mask is None or (self.kv >= 3 and states and "mask" not in kw):
            return -1
        return x.mask.slot

    def _rnn(self, spec, ins, kw):
        if not ins:
            raise self.error(spec, "has no input")
        x = ins[0]
        if len(x.shape) != 3:
            raise self.error(spec, f"expects (batch, time, features), got {_shape_str(x.shape)}")
        units, w = self._rnn_weights(spec, spec.cls, spec.cfg, x.shape[2], spec.weights)
        layer = self._cell(spec, spec.cfg, spec.cls, w, "")
        states = self._states(spec, ins, kw)
        n = layer.num_states
        if states and len(states) != n:
            raise self.error(spec, f"gets {len(states)} initial states, expected {n} ({', '.join(layer._STATES)})")
        for s in states:
            if len(s.shape) != 2 or (s.shape[1] is not None and s.shape[1] != units):
                raise self.error(spec, f"initial state of shape {_shape_str(s.shape)} does not fit units={units}")
        seq = layer.return_sequences
        y = self.plan.new((x.shape[0], x.shape[1], units) if seq else (x.shape[0], units), x.mask if seq else None)
        y.timed = seq and x.timed
        h = self.plan.new((x.shape[0], units))
        c = self.plan.new((x.shape[0], units)) if n == 2 else None
        in_slots = [x.slot, self._rnn_mask(x, states, kw)] + [s.slot for s in states] + [-1] * (2 - len(states))
        out_slots = [y.slot, h.slot, c.slot if c else -1, -1]
        streamed = self.mode == "stream" and x.timed
        if spec.cfg.get("stateful") or streamed:
            # Carried state: the plan reads it from extra inputs and returns it as extra
            # outputs. A stream also carries the last valid output, so that masked steps
            # repeat it across calls as they would in one long call; a Keras stateful
            # layer starts that from zeros at every call.
            if streamed and layer.go_backwards:
                raise StreamError(f"model {self.src.name}: cannot stream: {spec.owner} has go_backwards=True "
                                  "(it reads the sequence from its end)")
            if states:
                raise UnsupportedLayerError(
                    f"{self.src.name}: {spec.owner}: a layer that carries its state between calls cannot also "
                    "take initial_state from the graph")
            carried = [("h", h, 2)] + ([("c", c, 3)] if c else [])
            for kind, out_sym, pos in carried:
                inp = self.plan.new((x.shape[0], units))
                in_slots[pos] = inp.slot
                self.states.append(StateSpec(spec.name, kind, units, inp, out_sym))
            if streamed:
                inp, out = self.plan.new((x.shape[0], units)), self.plan.new((x.shape[0], units))
                in_slots.append(inp.slot)
                out_slots[3] = out.slot
                self.states.append(StateSpec(spec.name, "prev", units, inp, out))
        in_slots += [-1] * (5 - len(in_slots))
        self.plan.emit("rnn", spec.name, in_slots, out_slots, layer._impl)
        if not spec.cfg.get("return_state", False):
            return [y]
        return [y, h] + ([c] if c else [])

    def _l_Bidirectional(self, spec, ins, kw):
        x = ins[0] if ins else None
        if x is None or len(x.shape) != 3:
            raise self.error(spec, "expects (batch, time, features)")
        inner = spec.cfg.get("layer") or {}
        cls = str(inner.get("class_name"))
        fcfg = dict(inner.get("config") or {})
        bl = spec.cfg.get("backward_layer")
        if isinstance(bl, dict) and bl.get("class_name"):
            bcls, bcfg = str(bl.get("class_name")), dict(bl.get("config") or {})
        else:
            bcls, bcfg = cls, dict(fcfg, go_backwards=not fcfg.get("go_backwards", False))
        if bcls != cls:
            raise self.error(spec, f"forward is {cls} but backward is {bcls}")
        nf = 2 + bool(fcfg.get("use_bias", True))
        nb = 2 + bool(bcfg.get("use_bias", True))
        if len(spec.weights) != nf + nb:
            raise self.error(spec, f"expected {nf + nb} weights (forward then backward), the file has {len(spec.weights)}")
        units, wf = self._rnn_weights(spec, cls, fcfg, x.shape[2], spec.weights[:nf])
        _, wb = self._rnn_weights(spec, cls, bcfg, x.shape[2], spec.weights[nf:])
        fwd = self._cell(spec, fcfg, cls, wf, "forward")
        bwd = self._cell(spec, bcfg, cls, wb, "backward")
        if fwd.units != bwd.units or fwd.return_sequences != bwd.return_sequences:
            raise self.error(spec, "forward and backward layers disagree in units or return_sequences")
        mode = spec.cfg.get("merge_mode", "concat")
        if not (mode is None or isinstance(mode, str)) or mode not in _MERGE_MODES:
            raise self.error(spec, f"unknown merge_mode {mode!r}")
        n = fwd.num_states
        states = self._states(spec, ins, kw)
        if states and len(states) != 2 * n:
            raise self.error(spec, f"gets {len(states)} initial states, expected {2 * n} (forward then backward)")
        seq = fwd.return_sequences
        B, T = x.shape[0], x.shape[1]

        def seq_shape(width):
            return (B, T, width) if seq else (B, width)

        out_mask = x.mask if seq else None
        ys = []
        if mode is None:
            ys = [self.plan.new(seq_shape(units), out_mask), self.plan.new(seq_shape(units), out_mask)]
        else:
            ys = [self.plan.new(seq_shape(2 * units if mode == "concat" else units), out_mask)]
        st = [self.plan.new((B, units)) for _ in range(4)]
        if n == 1:
            st[1] = st[3] = None
        in_slots = [x.slot, self._rnn_mask(x, states, kw)]
        if states:
            sf, sb = states[:n], states[n:]
            in_slots += [sf[0].slot, sf[1].slot if n == 2 else -1, sb[0].slot, sb[1].slot if n == 2 else -1]
        else:
            in_slots += [-1, -1, -1, -1]
        out_slots = [ys[0].slot, ys[1].slot if len(ys) == 2 else -1] + [s.slot if s else -1 for s in st]
        self.plan.emit("bidirectional", spec.name, in_slots, out_slots, fwd._impl, bwd._impl, _MERGE_MODES[mode])
        if not fcfg.get("return_state", False):
            return ys
        return ys + [s for s in st if s is not None]

    # Wrappers and nested models ----------------------------------------------------------

    def _l_TimeDistributed(self, spec, ins, kw):
        x = self._single(spec, ins)
        inner_cfg = spec.cfg.get("layer") or {}
        inner = Spec(str(inner_cfg.get("class_name")), layer_name(inner_cfg), inner_cfg.get("config") or {},
                     spec.weights, str(inner_cfg.get("module", "")))
        if inner.cls in MODEL_CLASSES:
            inner.cfg = inner_cfg  # a nested model's converter wants the whole entry
        if len(x.shape) < 3:
            raise self.error(spec, f"expects (batch, time, ...), got {_shape_str(x.shape)}")
        if inner.cls == "Dense":  # Dense already maps the last axis of any rank
            y = self.apply(inner, [Sym(x.slot, x.shape, None)], {}, False)[0]
            return [Sym(y.slot, y.shape, x.mask)]
        folded = self.plan.new((None,) + x.shape[2:])
        self.plan.emit("fold_time", spec.name, [x.slot], [folded.slot])
        outs = self.apply(inner, [folded], {}, False)
        if len(outs) != 1:
            raise self.error(spec, "the wrapped layer must return one tensor")
        y = self.plan.new(x.shape[:2] + outs[0].shape[1:], x.mask)
        self.plan.emit("unfold_time", spec.name, [outs[0].slot, x.slot], [y.slot])
        return [y]

    def _nested(self, spec, ins, kw):
        model_cfg = spec.cfg if "class_name" in spec.cfg else {"class_name": spec.cls, "config": spec.cfg}
        layers = layer_list(model_cfg)
        per_layer = self._split_nested(spec, model_cfg, layers)
        _, outs, _, _ = self.model(model_cfg, per_layer, list(ins), top=False)
        return outs

    def _split_nested(self, spec: Spec, model_cfg, layers) -> Dict[str, WeightList]:
        """Assigns a nested model's flat weight list to its layers: by the layer names
        in the weight paths where they identify every weight, else in order."""
        names = [layer_name(lc) for lc in layers if not is_op_node(lc) and lc.get("class_name") != "InputLayer"]
        by_name: Dict[str, WeightList] = {n: [] for n in names}
        unmatched = []
        for path, w in spec.weights:
            parts = path.replace(":0", "").split("/")
            hit = next((n for n in names if n in parts), None)
            if hit is None:
                unmatched.append((path, w))
            else:
                by_name[hit].append((path, w))
        if not unmatched:
            return by_name
        counts = {layer_name(lc): _weight_count(lc) for lc in layers if layer_name(lc) in by_name}
        flat = list(spec.weights)
        out = {}
        for n in names:
            k = counts.get(n, 0)
            out[n], flat = flat[:k], flat[k:]
        return out

    # Shapes --------------------------------------------------------------------------------

    def _l_Flatten(self, spec, ins, kw):
        x = self._single(spec, ins)
        rest = x.shape[1:]
        n = None if any(d is None for d in rest) else int(np.prod(rest)) if rest else 1
        y = self.plan.new((x.shape[0], n))
        self.plan.emit("reshape", spec.name, [x.slot], [y.slot], [-1])
        return [y]

    def _l_Reshape(self, spec, ins, kw):
        x = self._single(spec, ins)
        target = [_int(d, spec.owner, "target_shape") for d in _as_list(spec.cfg.get("target_shape"))]
        if sum(d == -1 for d in target) > 1 or any(d < -1 or d == 0 for d in target):
            raise self.error(spec, f"invalid target_shape {target}")
        rest = x.shape[1:]
        shape = list(target)
        if -1 in target and all(d is not None for d in rest):
            known = int(np.prod([d for d in target if d != -1])) if len(target) > 1 else 1
            total = int(np.prod(rest)) if rest else 1
            if known == 0 or total % known:
                raise self.error(spec, f"cannot reshape {_shape_str(x.shape)} to {tuple(target)}")
            shape[target.index(-1)] = total // known
        elif -1 not in target and all(d is not None for d in rest) and int(np.prod(rest)) != int(np.prod(target)):
            raise self.error(spec, f"cannot reshape {_shape_str(x.shape)} to {tuple(target)}")
        y = self.plan.new((x.shape[0],) + tuple(None if d == -1 else d for d in shape))
        self.plan.emit("reshape", spec.name, [x.slot], [y.slot], target)
        return [y]

    def _l_RepeatVector(self, spec, ins, kw):
        x = self._single(spec, ins)
        n = _int(spec.cfg.get("n"), spec.owner, "n")
        if len(x.shape) != 2 or n < 1:
            raise self.error(spec, f"expects (batch, features) and n >= 1, got {_shape_str(x.shape)}, n={n}")
        y = self.plan.new((x.shape[0], n, x.shape[1]))
        self.plan.emit("repeat", spec.name, [x.slot], [y.slot], n)
        return [y]

    def _l_Permute(self, spec, ins, kw):
        x = self._single(spec, ins)
        dims = [_int(d, spec.owner, "dims") for d in _as_list(spec.cfg.get("dims"))]
        if sorted(dims) != list(range(1, len(x.shape))):
            raise self.error(spec, f"dims {dims} is not a permutation of the input axes 1..{len(x.shape) - 1}")
        y = self.plan.new((x.shape[0],) + tuple(x.shape[d] for d in dims))
        self.plan.emit("permute", spec.name, [x.slot], [y.slot], [d - 1 for d in dims])
        return [y]

    def _merge(self, spec, ins, kw):
        self.weights(spec, [], [])
        if len(ins) < (2 if spec.cls == "Subtract" else 1):
            raise self.error(spec, f"needs at least two inputs, got {len(ins)}")
        if spec.cls == "Subtract" and len(ins) != 2:
            raise self.error(spec, f"takes exactly two inputs, got {len(ins)}")
        rank = len(ins[0].shape)
        axis = 0
        if spec.cls == "Concatenate":
            axis = _int(spec.cfg.get("axis", -1), spec.owner, "axis")
            axis = axis + rank if axis < 0 else axis
            if not 1 <= axis < rank:
                raise self.error(spec, f"cannot concatenate on axis {spec.cfg.get('axis')} of rank-{rank} inputs")
            for s in ins:
                if len(s.shape) != rank or any(i != axis and a is not None and b is not None and a != b
                                               for i, (a, b) in enumerate(zip(s.shape, ins[0].shape))):
                    raise self.error(spec, "inputs of shapes " + ", ".join(_shape_str(s.shape) for s in ins)
                                     + f" cannot be concatenated on axis {axis}")
            total = sum(s.shape[axis] for s in ins) if all(s.shape[axis] is not None for s in ins) else None
            shape = ins[0].shape[:axis] + (total,) + ins[0].shape[axis + 1:]
        else:
            for s in ins[1:]:
                if len(s.shape) != rank or any(a is not None and b is not None and a != b
                                               for a, b in zip(s.shape[1:], ins[0].shape[1:])):
                    raise self.error(spec, "inputs have different shapes: " + ", ".join(_shape_str(s.shape) for s in ins))
            shape = tuple(next((s.shape[i] for s in ins if s.shape[i] is not None), None) for i in range(rank))
        mask = self._merge_mask(spec, ins, axis, rank)
        y = self.plan.new(shape, mask)
        if self.kv >= 3 and spec.cls in ("Maximum", "Minimum", "Multiply") and any(s.mask is not None for s in ins):
            # Keras 3 lets masked positions of one input take the other inputs' values.
            slots = [s.slot for s in ins] + [s.mask.slot if s.mask is not None else -1 for s in ins]
            self.plan.emit("masked_merge", spec.name, slots, [y.slot], _MERGES[spec.cls])
        else:
            self.plan.emit("merge", spec.name, [s.slot for s in ins], [y.slot], _MERGES[spec.cls], axis)
        return [y]

    def _merge_mask(self, spec: Spec, ins: List[Sym], axis: int, rank: int) -> Optional[Sym]:
        masks = [s.mask for s in ins]
        if all(m is None for m in masks):
            return None
        if spec.cls == "Concatenate" and axis != rank - 1:
            if any(m is None for m in masks) or rank != 3 or axis != 1:
                raise UnsupportedLayerError(
                    f"{self.src.name}: {spec.owner}: concatenating masked and unmasked inputs on axis {axis} "
                    "is not supported"
                )
            y = self.plan.new((ins[0].shape[0], None))
            self.plan.emit("merge", spec.name + ".mask", [m.slot for m in masks], [y.slot], _MERGES["Concatenate"], 1)
            return y
        if self.kv >= 3:
            # Keras 3: merges OR the masks (none if any input is unmasked); Concatenate
            # ORs them with all-true masks for unmasked inputs: then every step is valid.
            if any(m is None for m in masks):
                return None
            present, any_ = masks, True
        else:  # tf-keras: AND over the masks present
            present, any_ = [m for m in masks if m is not None], False
        if len(present) == 1:
            return present[0]
        y = self.plan.new(present[0].shape)
        self.plan.emit("mask_combine", spec.name + ".mask", [m.slot for m in present], [y.slot], any_)
        return y

    # Normalisation -------------------------------------------------------------------------

    def _axes(self, spec: Spec, x: Sym, default: Any = -1) -> List[int]:
        rank = len(x.shape)
        out = []
        for a in _as_list(spec.cfg.get("axis", default)):
            a = _int(a, spec.owner, "axis")
            a = a + rank if a < 0 else a
            if not 1 <= a < rank:
                raise self.error(spec, f"axis {a} is out of range for input {_shape_str(x.shape)}")
            out.append(a)
        return sorted(set(out))

    def _l_BatchNormalization(self, spec, ins, kw):
        x = self._single(spec, ins)
        axes = self._axes(spec, x)
        if len(axes) != 1 or x.shape[axes[0]] is None:
            raise self.error(spec, f"needs one axis of known size, got axis={spec.cfg.get('axis')} on {_shape_str(x.shape)}")
        a = axes[0]
        C = x.shape[a]
        scale, center = spec.cfg.get("scale", True), spec.cfg.get("center", True)
        names = (["gamma"] if scale else []) + (["beta"] if center else []) + ["moving_mean", "moving_variance"]
        w = self.weights(spec, names, [(C,)] * len(names))
        vals = dict(zip(names, [v.astype(np.float64) for v in w]))
        eps = float(spec.cfg.get("epsilon", 1e-3))
        inv = 1.0 / np.sqrt(vals["moving_variance"] + eps)
        if scale:
            inv = inv * vals["gamma"]
        shift = -vals["moving_mean"] * inv + (vals["beta"] if center else 0.0)
        pshape = [1] * (len(x.shape) - 1)
        pshape[a - 1] = C
        y = self.plan.new(x.shape, x.mask)
        self.plan.emit("affine", spec.name, [x.slot], [y.slot], inv.astype(np.float32).reshape(pshape),
                       shift.astype(np.float32).reshape(pshape))
        return [y]

    def _l_LayerNormalization(self, spec, ins, kw):
        x = self._single(spec, ins)
        axes = self._axes(spec, x)
        rank = len(x.shape)
        if axes != list(range(rank - len(axes), rank)) or any(x.shape[a] is None for a in axes):
            raise UnsupportedLayerError(
                f"{self.src.name}: {spec.owner}: normalising axes {axes} of {_shape_str(x.shape)} is not supported "
                "(only trailing axes of known size)"
            )
        dims = tuple(x.shape[a] for a in axes)
        n = int(np.prod(dims))
        rms = bool(spec.cfg.get("rms_scaling", False))
        scale = spec.cfg.get("scale", True) or rms
        center = spec.cfg.get("center", True) and not rms
        names = (["gamma"] if scale else []) + (["beta"] if center else [])
        w = self.weights(spec, names, [dims] * len(names))
        vals = dict(zip(names, w))
        y = self.plan.new(x.shape, x.mask)
        self.plan.emit("layer_norm", spec.name, [x.slot], [y.slot], n, vals.get("gamma"), vals.get("beta"),
                       float(spec.cfg.get("epsilon", 1e-3)), rms)
        return [y]

    # Convolution and pooling -----------------------------------------------------------------

    @staticmethod
    def _window(T: Optional[int], span: int, stride: int, pad: str) -> Optional[int]:
        if T is None:
            return None
        if pad == "valid":
            return (T - span) // stride + 1 if T >= span else 0
        return (T + stride - 1) // stride if pad == "same" else (T - 1) // stride + 1

    def _l_Conv1D(self, spec, ins, kw):
        x = self._single(spec, ins)
        if len(x.shape) != 3:
            raise self.error(spec, f"expects (batch, time, channels), got {_shape_str(x.shape)}")
        cfg = spec.cfg
        filters = _int(cfg.get("filters"), spec.owner, "filters")
        k = _pos(cfg.get("kernel_size"), spec.owner, "kernel_size")
        s = _pos(cfg.get("strides", 1), spec.owner, "strides")
        d = _pos(cfg.get("dilation_rate", 1), spec.owner, "dilation_rate")
        pad = cfg.get("padding", "valid")
        use_bias = cfg.get("use_bias", True)
        w = self.weights(spec, ["kernel", "bias"][: 1 + bool(use_bias)], [(k, x.shape[2], filters), (filters,)][: 1 + bool(use_bias)])
        code, layer_act = self._act_and_rest(spec)
        Tout = self._window(x.shape[1], (k - 1) * d + 1, s, pad)
        if Tout is not None and Tout < 1:
            raise self.error(spec, f"the input's {x.shape[1]} timesteps are fewer than the kernel's span")
        y = self.plan.new((x.shape[0], Tout, filters))
        self.plan.emit("conv1d", spec.name, [x.slot], [y.slot], w[0], w[1] if use_bias else None, s, d,
                       {"valid": 0, "same": 1, "causal": 2}[pad], code)
        return [self._activation_after(spec, layer_act, y) if layer_act else y]

    def _pool(self, spec, ins, kind):
        x = self._single(spec, ins)
        if len(x.shape) != 3:
            raise self.error(spec, f"expects (batch, time, channels), got {_shape_str(x.shape)}")
        p = _pos(spec.cfg.get("pool_size", 2), spec.owner, "pool_size")
        st = spec.cfg.get("strides")
        s = p if st is None else _pos(st, spec.owner, "strides")
        pad = spec.cfg.get("padding", "valid")
        Tout = self._window(x.shape[1], p, s, pad)
        if Tout is not None and Tout < 1:
            raise self.error(spec, f"the input's {x.shape[1]} timesteps are fewer than pool_size={p}")
        y = self.plan.new((x.shape[0], Tout, x.shape[2]))
        self.plan.emit("pool1d", spec.name, [x.slot], [y.slot], kind, p, s, pad == "same")
        return [y]

    def _l_MaxPooling1D(self, spec, ins, kw):
        return self._pool(spec, ins, 0)

    def _l_AveragePooling1D(self, spec, ins, kw):
        return self._pool(spec, ins, 1)

    def _global(self, spec, ins, kind):
        x = self._single(spec, ins)
        if len(x.shape) != 3:
            raise self.error(spec, f"expects (batch, time, channels), got {_shape_str(x.shape)}")
        keep = bool(spec.cfg.get("keepdims", False))
        y = self.plan.new((x.shape[0], 1, x.shape[2]) if keep else (x.shape[0], x.shape[2]))
        m = x.mask.slot if (x.mask is not None and kind == 1) else -1
        self.plan.emit("global_pool1d", spec.name, [x.slot, m], [y.slot], kind, keep)
        return [y]

    def _l_GlobalMaxPooling1D(self, spec, ins, kw):
        return self._global(spec, ins, 0)

    def _l_GlobalAveragePooling1D(self, spec, ins, kw):
        return self._global(spec, ins, 1)


def _weight_count(layer_cfg: Dict[str, Any]) -> int:
    """How many weights a layer config implies (to split nested models in order)."""
    cls = layer_cfg.get("class_name")
    cfg = layer_cfg.get("config") if isinstance(layer_cfg.get("config"), dict) else {}
    bias = 1 if cfg.get("use_bias", True) else 0
    if cls in ("Dense", "Conv1D"):
        return 1 + bias
    if cls in _CELLS:
        return 2 + bias
    if cls == "Bidirectional":
        inner = cfg.get("layer") or {}
        return _weight_count(inner) + _weight_count(cfg.get("backward_layer") or inner)
    if cls == "TimeDistributed":
        return _weight_count(cfg.get("layer") or {})
    if cls in ("Embedding", "PReLU"):
        return 1
    if cls == "BatchNormalization":
        return 2 + bool(cfg.get("scale", True)) + bool(cfg.get("center", True))
    if cls == "LayerNormalization":
        rms = bool(cfg.get("rms_scaling", False))
        return bool(cfg.get("scale", True) or rms) + bool(cfg.get("center", True) and not rms)
    if cls in MODEL_CLASSES:
        return sum(_weight_count(lc) for lc in layer_list(layer_cfg))
    return 0


def parse_inbound(layer_cfg: Dict[str, Any], owner: str) -> List[Tuple[List[Tuple[str, int, int]], Dict[str, Any]]]:
    """A functional layer's inbound nodes in either dialect, as (input refs, kwargs)
    where kwargs may hold 'initial_state' (refs) and 'mask' (a ref)."""
    raw = layer_cfg.get("inbound_nodes") or []
    if not isinstance(raw, list):
        raise ModelFormatError(f"{owner}: inbound_nodes is not a list")

    def ref(v: Any) -> Optional[Tuple[str, int, int]]:
        if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
            h = (v.get("config") or {}).get("keras_history")
            if isinstance(h, list) and len(h) == 3 and isinstance(h[0], str):
                return (h[0], _int(h[1], owner, "node index"), _int(h[2], owner, "tensor index"))
            raise ModelFormatError(f"{owner}: malformed tensor reference {v!r}")
        if isinstance(v, list) and len(v) in (3, 4) and isinstance(v[0], str) and all(isinstance(i, int) for i in v[1:3]):
            return (v[0], v[1], v[2])
        return None

    def refs(v: Any, depth: int = 0) -> List[Tuple[str, int, int]]:
        if depth > 16:
            raise ModelFormatError(f"{owner}: inbound node nested too deeply")
        r = ref(v)
        if r is not None:
            return [r]
        if isinstance(v, (list, tuple)):
            return [x for item in v for x in refs(item, depth + 1)]
        if isinstance(v, dict) and v.get("class_name") != "__keras_tensor__":
            return []
        return []

    nodes = []
    for node in raw:
        if isinstance(node, dict):  # Keras 3
            args = node.get("args") or []
            kwargs = node.get("kwargs") or {}
            ins = refs(args[:1]) if args else []
            extra = refs(args[1:]) if len(args) > 1 else []
            kw: Dict[str, Any] = {}
            st = refs(kwargs.get("initial_state")) if isinstance(kwargs, dict) else []
            if st or extra:
                kw["initial_state"] = st + extra
            m = refs(kwargs.get("mask")) if isinstance(kwargs, dict) else []
            if len(m) == 1:
                kw["mask"] = m[0]
            nodes.append((ins, kw))
        elif isinstance(node, list):  # tf-keras: [[name, node, tensor, kwargs], ...]
            ins = []
            kw = {}
            for entry in node:
                r = ref(entry)
                if r is None:
                    raise ModelFormatError(f"{owner}: malformed inbound node entry {entry!r}")
                ins.append(r)
                extra_kw = entry[3] if len(entry) > 3 and isinstance(entry[3], dict) else {}
                st = refs(extra_kw.get("initial_state"))
                if st:
                    kw.setdefault("initial_state", []).extend(st)
                m = refs(extra_kw.get("mask"))
                if len(m) == 1:
                    kw["mask"] = m[0]
            nodes.append((ins, kw))
        else:
            raise ModelFormatError(f"{owner}: malformed inbound node {node!r}")
    return nodes
