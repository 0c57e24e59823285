"""Bidirectional: a forward and a backward recurrent layer as one ``bidirectional`` op.

The two directions run in the same native op (in parallel when threads allow) and
their outputs are merged there (``merge_mode``). Without an explicit
``backward_layer`` Keras builds the backward half from the forward config with
``go_backwards`` flipped; the weights follow forward first, then backward.
"""

from __future__ import annotations

from typing import Any, Dict, List

from .._recurrent import MERGE_MODES
from ..keras_config import RNN_CLASSES, layer_config
from .converter import Converter
from .plan import Sym
from .recurrent import initial_states, mask_slot, native_layer, rnn_weights
from .registry import KerasLayer, SupportQuery, converts, support_problems, weight_count


def _weight_count(entry: Dict[str, Any]) -> int:
    cfg = layer_config(entry)
    inner = cfg.get("layer") or {}
    return weight_count(inner) + weight_count(cfg.get("backward_layer") or inner)


def check_wrapped(q: SupportQuery) -> List[str]:
    """The problems of the layer(s) a wrapper holds, prefixed with the wrapper."""
    problems = []
    for key in ("layer", "backward_layer"):
        sub = q.cfg.get(key)
        if isinstance(sub, dict):
            problems += [f"{q.who} wraps {p}" for p in support_problems(sub, q.keras_major, q.depth + 1)]
    return problems


def _check(q: SupportQuery) -> List[str]:
    problems = check_wrapped(q)
    inner = (q.cfg.get("layer") or {}).get("class_name")
    if inner not in RNN_CLASSES:
        problems.append(f"{q.who}: wraps a {inner}; pyrnn supports SimpleRNN, LSTM and GRU there")
    return problems


@converts("Bidirectional", weights=_weight_count, check=_check)
def _bidirectional(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = ins[0] if ins else None
    if x is None or len(x.shape) != 3:
        raise cv.error(layer, "expects (batch, time, features)")
    inner = layer.cfg.get("layer") or {}
    cls = str(inner.get("class_name"))
    fcfg = dict(inner.get("config") or {})
    bl = layer.cfg.get("backward_layer")
    if isinstance(bl, dict) and bl.get("class_name"):
        bcls, bcfg = str(bl.get("class_name")), dict(bl.get("config") or {})
    else:
        bcls, bcfg = cls, dict(fcfg, go_backwards=not fcfg.get("go_backwards", False))
    if bcls != cls:
        raise cv.error(layer, f"forward is {cls} but backward is {bcls}")
    nf = 2 + bool(fcfg.get("use_bias", True))
    nb = 2 + bool(bcfg.get("use_bias", True))
    if len(layer.weights) != nf + nb:
        raise cv.error(layer, f"expected {nf + nb} weights (forward then backward), the file has {len(layer.weights)}")
    units, wf = rnn_weights(cv, layer, cls, fcfg, x.shape[2], layer.weights[:nf])
    _, wb = rnn_weights(cv, layer, cls, bcfg, x.shape[2], layer.weights[nf:])
    fwd = native_layer(cv, layer, fcfg, cls, wf, "forward")
    bwd = native_layer(cv, layer, bcfg, cls, wb, "backward")
    if fwd.units != bwd.units or fwd.return_sequences != bwd.return_sequences:
        raise cv.error(layer, "forward and backward layers disagree in units or return_sequences")
    mode = layer.cfg.get("merge_mode", "concat")
    if not (mode is None or isinstance(mode, str)) or mode not in MERGE_MODES:
        raise cv.error(layer, f"unknown merge_mode {mode!r}")
    n = fwd.num_states
    states = initial_states(ins, kw)
    if states and len(states) != 2 * n:
        raise cv.error(layer, f"gets {len(states)} initial states, expected {2 * n} (forward then backward)")
    seq = fwd.return_sequences
    B, T = x.shape[0], x.shape[1]

    def seq_shape(width: int):
        return (B, T, width) if seq else (B, width)

    out_mask = x.mask if seq else None
    if mode is None:
        ys = [cv.plan.new(seq_shape(units), out_mask), cv.plan.new(seq_shape(units), out_mask)]
    else:
        ys = [cv.plan.new(seq_shape(2 * units if mode == "concat" else units), out_mask)]
    st = {k: cv.plan.new((B, units)) for k in (("hf", "cf", "hb", "cb") if n == 2 else ("hf", "hb"))}
    in_slots = dict(x=x.slot, mask=mask_slot(cv, x, states, kw))
    if states:  # forward's (h, c) then backward's
        in_slots.update(zip(("h0f", "c0f") if n == 2 else ("h0f",), (s.slot for s in states[:n])))
        in_slots.update(zip(("h0b", "c0b") if n == 2 else ("h0b",), (s.slot for s in states[n:])))
    out_slots = {"y": ys[0].slot, **({"y_backward": ys[1].slot} if len(ys) == 2 else {}),
                 **{k: s.slot for k, s in st.items()}}
    cv.plan.emit_named("bidirectional", layer.name, in_slots, out_slots, fwd.impl, bwd.impl, MERGE_MODES[mode])
    if not fcfg.get("return_state", False):
        return ys
    return ys + list(st.values())
