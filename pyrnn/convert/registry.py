"""The registry of Keras layer types pyrnn converts: one entry per Keras class name.

Each layer family module registers its layers with :func:`converts`::

    @converts("Dense", weights=kernel_bias_count, stepwise=True, check=check_activation_option)
    def _dense(cv: Converter, layer: KerasLayer, ins: List[Sym], kw) -> List[Sym]: ...

The entry owns everything the converter knows about that class: whether (and with
which options) it is supported, how many weights its config implies, whether a stream
can run it one chunk of timesteps at a time, and how it becomes plan ops. Nothing
else in the converter lists layer classes, so adding one touches its family module
only. (The file reader knows the few classes whose weights sit in sub-groups:
recurrent cells, wrappers and nested models.)

:func:`support_problems` checks a whole config before anything is built, so that one
:class:`pyrnn.UnsupportedLayerError` lists every unsupported layer and option at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Union

import numpy as np

from ..activations import resolve
from ..errors import ModelFormatError
from ..keras_config import activation_name, dtype_name, is_op_node, layer_config, layer_name
from ..keras_files import WeightList

if TYPE_CHECKING:
    from .converter import Converter
    from .plan import Sym

    Emitter = Callable[[Converter, "KerasLayer", List[Sym], Dict[str, Any]], List[Sym]]
    TimeCheck = Callable[[Converter, "KerasLayer", List[Sym]], Optional[str]]


@dataclass
class KerasLayer:
    """One layer of a config with its weights, as an emitter receives it."""

    cls: str
    name: str
    cfg: Dict[str, Any]
    weights: WeightList
    module: str = ""
    raw: Dict[str, Any] = field(default_factory=dict)  # the layer's entry in the config

    @property
    def owner(self) -> str:
        """How messages name the layer: ``layer 'enc' (LSTM)``."""
        return f"layer {self.name!r} ({self.cls})"

    @property
    def params(self) -> int:
        """The number of weights (Model.summary's Param #)."""
        return int(sum(int(np.prod(w.shape)) for _, w in self.weights))


@dataclass(frozen=True)
class SupportQuery:
    """What a support check is asked about: one layer entry of a config, where it sits."""

    entry: Dict[str, Any]  # the layer's whole config entry (class_name, config, ...)
    cfg: Dict[str, Any]  # entry["config"], or {}
    who: str  # "'name' (Class)", the prefix of every problem
    keras_major: int
    depth: int  # wrappers and nested models above it
    in_model: bool  # directly inside a (nested) model, not inside a wrapper


class Refuse(Exception):
    """Raised by a support check when the layer cannot be used at all where it sits;
    its reason then stands alone instead of a list of option problems."""


@dataclass(frozen=True)
class LayerType:
    """Everything pyrnn knows about one Keras layer class (see :func:`converts`)."""

    emit: Optional[Emitter]  # None: accepted in a config, never called (InputLayer)
    check: Optional[Callable[[SupportQuery], List[str]]]
    weights: Callable[[Dict[str, Any]], int]
    stepwise: bool
    time_check: Optional[TimeCheck]
    tracks_time: bool


_REGISTRY: Dict[str, LayerType] = {}


def converts(
    *class_names: str,
    weights: Union[int, Callable[[Dict[str, Any]], int]] = 0,
    stepwise: bool = False,
    check: Optional[Callable[[SupportQuery], List[str]]] = None,
    time_check: Optional[TimeCheck] = None,
    tracks_time: bool = False,
) -> Callable[[Emitter], Emitter]:
    """Registers an emitter ``fn(cv, layer, ins, kw) -> outputs`` for Keras classes.

    ``weights``: how many weight arrays a layer entry implies (a number, or a function
    of the entry); used to split a nested model's flat weight list in order.
    ``stepwise``: the layer maps each timestep on its own, so a stream may run it on a
    chunk and its outputs stay on the time axis. ``time_check(cv, layer, ins)`` may
    still return why one configuration of a stepwise layer cannot stream.
    ``tracks_time``: the emitter handles the stream's time axis itself (recurrent
    layers carry state, nested models defer to their layers).
    ``check(query)``: the layer's own option problems, beyond the dtype check every
    layer gets (or ``raise Refuse(reason)`` for a layer that cannot be used there).
    """
    count = weights if callable(weights) else (lambda entry, n=int(weights): n)

    def register(fn: Emitter) -> Emitter:
        for name in class_names:
            _add(name, LayerType(fn, check, count, stepwise, time_check, tracks_time))
        return fn

    return register


def accepts(*class_names: str, check: Optional[Callable[[SupportQuery], List[str]]] = None) -> None:
    """Registers classes that a config may hold but that never become ops themselves."""
    for name in class_names:
        _add(name, LayerType(None, check, lambda entry: 0, False, None, False))


def _add(class_name: str, kind: LayerType) -> None:
    if class_name in _REGISTRY:
        raise RuntimeError(f"Keras class {class_name!r} is registered twice")
    _REGISTRY[class_name] = kind


def layer_type(class_name: str) -> Optional[LayerType]:
    """The registered entry of a Keras class, or None."""
    return _REGISTRY.get(class_name)


def weight_count(entry: Dict[str, Any]) -> int:
    """How many weights a layer entry implies (to split nested models in order)."""
    kind = _REGISTRY.get(str(entry.get("class_name")))
    return kind.weights(entry) if kind is not None else 0


# ---- support checks ------------------------------------------------------------------------

# Why some well-known unsupported classes are refused.
_WHY = {
    "Lambda": "Lambda layers hold Python code; pyrnn never executes code from a model file",
    "TFOpLambda": "TensorFlow operations in the graph are not supported",
}


def support_problems(entry: Dict[str, Any], keras_major: int, depth: int = 0, in_model: bool = False) -> List[str]:
    """Problems with one layer entry (recursing into wrappers and nested models)."""
    cls = str(entry.get("class_name", "?"))
    cfg = layer_config(entry)
    try:
        name = layer_name(entry)
    except ModelFormatError:
        name = "?"
    who = f"{name!r} ({cls})"
    if depth > 64:
        return [f"{who}: nested more than 64 levels deep"]
    if is_op_node(entry):
        return []  # judged by use when the graph is walked: mask computations are fine
    kind = _REGISTRY.get(cls)
    if kind is None:
        registered = entry.get("registered_name")
        if cls in _WHY:
            why = _WHY[cls]
        elif isinstance(registered, str) and registered and registered != cls and not registered.startswith("keras"):
            why = f"custom layer {registered!r}; pyrnn does not run custom code"
        else:
            why = "layer type not supported"
        return [f"{who}: {why}"]
    problems: List[str] = []
    dt = dtype_name(cfg.get("dtype"))
    if cls != "InputLayer" and dt not in (None, "float32"):
        problems.append(f"{who}: dtype policy {dt!r}; pyrnn computes in float32 and would not match it")
    if kind.check is not None:
        try:
            problems += kind.check(SupportQuery(entry, cfg, who, keras_major, depth, in_model))
        except Refuse as refusal:
            return [f"{who}: {refusal}"]
    return problems


def activation_problem(value: Any, who: str, keras_major: int) -> Optional[str]:
    """Why an activation option cannot be run, or None."""
    try:
        resolve(activation_name(value, who), keras_major)
    except (ValueError, TypeError) as exc:
        return str(exc) if who in str(exc) else f"{who}: {exc}"
    return None
