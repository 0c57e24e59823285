"""SimpleRNN, LSTM and GRU layers: one ``rnn`` op each.

The native layer (validated, weights packed) comes from ``_recurrent.native_from_config``,
the same code ``pyrnn.LSTM.from_config`` uses. A layer that carries its state between
calls (Keras ``stateful=True``, or any forward layer on the time axis of a stream)
reads the state from extra plan inputs and writes it to extra plan outputs.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .._compute import ComputeTypeError
from .._recurrent import KINDS, NativeRecurrent, native_from_config
from ..errors import ModelFormatError
from ..keras_config import RNN_CLASSES, check_rnn_config, config_int, dtype_name, layer_config
from ..keras_files import WeightList
from .converter import Converter
from .plan import CarriedState, Sym, shape_str
from .registry import KerasLayer, Refuse, SupportQuery, activation_problem, converts


def rnn_weight_count(entry: Dict[str, Any]) -> int:
    """kernel, recurrent_kernel and (with use_bias) bias."""
    return 2 + (1 if layer_config(entry).get("use_bias", True) else 0)


def _check(q: SupportQuery) -> List[str]:
    cfg = q.cfg
    if cfg.get("stateful") and not (q.depth == 0 or q.in_model):
        raise Refuse("stateful=True is supported on plain recurrent layers, not inside a wrapper")
    problems = []
    if dtype_name(cfg.get("dtype")) not in (None, "float32"):
        cfg = {k: v for k, v in cfg.items() if k != "dtype"}  # already reported, once, for every layer
    try:
        check_rnn_config(cfg, q.who, allow_stateful=True)
    except ValueError as exc:
        problems.append(str(exc))
    cls = q.entry.get("class_name")
    for key in ("activation", "recurrent_activation"):
        if key in cfg and (key == "activation" or cls != "SimpleRNN"):
            problem = activation_problem(cfg[key], q.who, q.keras_major)
            if problem:
                problems.append(problem)
    return problems


def native_layer(cv: Converter, layer: KerasLayer, cfg: Dict[str, Any], cls: str, weights: List[np.ndarray],
                 role: str) -> NativeRecurrent:
    """The native layer for one direction of ``layer``, built once per conversion (a
    layer called several times in a functional graph shares it), computing in the
    conversion's compute type."""
    key = (id(layer.cfg), role)  # config dicts live as long as the conversion
    if key not in cv.native_layers:
        try:
            cv.native_layers[key] = native_from_config(KINDS[cls], dict(cfg, stateful=False), weights, cv.keras_major,
                                                       cv.compute_type)
        except ComputeTypeError as exc:  # the file is fine; the compute type cannot run it
            raise ComputeTypeError(f"{cv.source.name}: {layer.owner}: {exc}") from None
        except (ValueError, TypeError) as exc:
            raise ModelFormatError(f"{cv.source.name}: {layer.owner}: {exc}") from None
    return cv.native_layers[key]


def rnn_weights(cv: Converter, layer: KerasLayer, cls: str, cfg: Dict[str, Any], input_dim: Optional[int],
                pairs: WeightList) -> Tuple[int, List[np.ndarray]]:
    """units and the checked weights of one direction (kernel, recurrent_kernel[, bias])."""
    units = config_int(cfg.get("units"), layer.owner, "units")
    G = KINDS[cls].gates
    use_bias = cfg.get("use_bias", True)
    bias_shape = (2, G * units) if cls == "GRU" and cfg.get("reset_after", True) else (G * units,)
    names = ["kernel", "recurrent_kernel", "bias"][: 2 + bool(use_bias)]
    shapes = [(input_dim, G * units), (units, G * units), bias_shape][: 2 + bool(use_bias)]
    direction = KerasLayer(layer.cls, layer.name, cfg, pairs)
    return units, cv.weights(direction, names, shapes)


def initial_states(ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    """States given to a call: the initial_state keyword, then extra positional inputs."""
    return list(kw.get("initial_state", [])) + list(ins[1:])


def mask_slot(cv: Converter, x: Sym, states: List[Sym], kw: Dict[str, Any]) -> int:
    """The mask slot a recurrent call uses. Keras 3 hands the propagated mask only
    to calls with a single tensor argument: with initial states the layer runs
    unmasked (its output still carries the mask). tf-keras always applies it."""
    if x.mask is None or (cv.keras_major >= 3 and states and "mask" not in kw):
        return -1
    return x.mask.slot


@converts(*RNN_CLASSES, weights=rnn_weight_count, check=_check, tracks_time=True)
def _rnn(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    if not ins:
        raise cv.error(layer, "has no input")
    x = ins[0]
    if len(x.shape) != 3:
        raise cv.error(layer, f"expects (batch, time, features), got {shape_str(x.shape)}")
    units, w = rnn_weights(cv, layer, layer.cls, layer.cfg, x.shape[2], layer.weights)
    native = native_layer(cv, layer, layer.cfg, layer.cls, w, "")
    states = initial_states(ins, kw)
    n = native.num_states
    if states and len(states) != n:
        raise cv.error(layer, f"gets {len(states)} initial states, expected {n} ({', '.join(native.kind.states)})")
    for s in states:
        if len(s.shape) != 2 or (s.shape[1] is not None and s.shape[1] != units):
            raise cv.error(layer, f"initial state of shape {shape_str(s.shape)} does not fit units={units}")
    seq = native.return_sequences
    y = cv.plan.new((x.shape[0], x.shape[1], units) if seq else (x.shape[0], units), x.mask if seq else None)
    y.timed = seq and x.timed
    h = cv.plan.new((x.shape[0], units))
    c = cv.plan.new((x.shape[0], units)) if n == 2 else None
    in_slots = dict(x=x.slot, mask=mask_slot(cv, x, states, kw), **{k: s.slot for k, s in zip(("h0", "c0"), states)})
    out_slots = dict(y=y.slot, h=h.slot, **({"c": c.slot} if c else {}))
    streamed = cv.mode == "stream" and x.timed
    if layer.cfg.get("stateful") or streamed:
        # Carried state: the plan reads it from extra inputs and returns it as extra
        # outputs. A stream also carries the last valid output, so that masked steps
        # repeat it across calls as they would in one long call; a Keras stateful
        # layer starts that from zeros at every call.
        if streamed and native.go_backwards:
            raise cv.stream_error(layer, "has go_backwards=True (it reads the sequence from its end)")
        if states:
            raise cv.unsupported(layer, "a layer that carries its state between calls cannot also "
                                        "take initial_state from the graph")
        carried = [("h", h, "h0")] + ([("c", c, "c0")] if c else [])
        for kind, out_sym, arg in carried:
            inp = cv.plan.new((x.shape[0], units))
            in_slots[arg] = inp.slot
            cv.states.append(CarriedState(layer.name, kind, units, inp, out_sym))
        if streamed:
            inp, out = cv.plan.new((x.shape[0], units)), cv.plan.new((x.shape[0], units))
            in_slots["prev0"] = inp.slot
            out_slots["prev"] = out.slot
            cv.states.append(CarriedState(layer.name, "prev", units, inp, out))
    cv.plan.emit_named("rnn", layer.name, in_slots, out_slots, native.impl)
    if not layer.cfg.get("return_state", False):
        return [y]
    return [y, h] + ([c] if c else [])
