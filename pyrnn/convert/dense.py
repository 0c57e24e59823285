"""Dense and the activation layers (Activation, ReLU, LeakyReLU, ELU, PReLU, Softmax).

All of them map the last axis of each timestep on its own, so a stream can run them
on a chunk. A plain activation is fused into the ``dense`` op (a ``_core.Act``); Keras 3
may serialise a layer object (ReLU(max_value=6), say) as the activation of a Dense or
Conv1D, and that becomes a second op after it.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from .._core import Act, ParamActKind
from ..activations import resolve
from ..errors import UnsupportedLayerError
from ..keras_config import activation_name, as_list, config_int, layer_config
from .converter import Converter
from .plan import Sym, shape_str
from .registry import KerasLayer, SupportQuery, activation_problem, converts, layer_type, support_problems

# Activation layers Keras 3 may serialise as a Dense/Conv1D/Activation "activation".
_ACTIVATION_LAYERS = ("ReLU", "LeakyReLU", "ELU", "Softmax")


def kernel_bias_count(entry: Dict[str, Any]) -> int:
    """kernel and (with use_bias) bias."""
    return 1 + (1 if layer_config(entry).get("use_bias", True) else 0)


def check_activation_option(q: SupportQuery) -> List[str]:
    """The ``activation`` option of Dense, Conv1D and Activation, and their weights' form."""
    problems: List[str] = []
    act = q.cfg.get("activation", "linear")
    if isinstance(act, dict) and act.get("class_name") in _ACTIVATION_LAYERS:
        problems += support_problems(act, q.keras_major, q.depth + 1) if "name" in (act.get("config") or {}) else []
    else:
        problem = activation_problem(act, q.who, q.keras_major)
        if problem:
            problems.append(problem)
    if q.cfg.get("lora_rank") or q.cfg.get("quantization_config"):
        problems.append(f"{q.who}: LoRA or quantized weights are not supported")
    return problems


def native_activation(cv: Converter, layer: KerasLayer, name: Any) -> Act:
    """The native activation of an activation option; an unknown one is an UnsupportedLayerError."""
    try:
        return resolve(activation_name(name, layer.owner), cv.keras_major)
    except (ValueError, TypeError) as exc:
        msg = f"{layer.owner}: {exc}"  # Model adds the file name
        raise UnsupportedLayerError(msg, [msg]) from None


def fused_activation(cv: Converter, layer: KerasLayer) -> Tuple[Act, Optional[Dict[str, Any]]]:
    """The activation to fuse into the layer's op, and an activation layer config to
    emit after it (linear and the config when Keras serialised a layer object)."""
    act = layer.cfg.get("activation", "linear")
    if isinstance(act, dict) and act.get("class_name") in _ACTIVATION_LAYERS:
        return Act.linear, act
    return native_activation(cv, layer, act), None


def activation_after(cv: Converter, layer: KerasLayer, act: Dict[str, Any], x: Sym) -> Sym:
    """An activation given as a layer object inside Dense/Conv1D/Activation."""
    sub = KerasLayer(str(act.get("class_name")), f"{layer.name}.activation", act.get("config") or {}, [])
    kind = layer_type(sub.cls)
    assert kind is not None and kind.emit is not None, sub.cls  # only _ACTIVATION_LAYERS get here
    return kind.emit(cv, sub, [x], {})[0]


@converts("Dense", weights=kernel_bias_count, stepwise=True, check=check_activation_option)
def _dense(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    units = config_int(layer.cfg.get("units"), layer.owner, "units")
    use_bias = layer.cfg.get("use_bias", True)
    K = x.shape[-1] if len(x.shape) >= 2 else None
    if len(x.shape) < 2:
        raise cv.error(layer, f"expects an input of rank >= 2, got {shape_str(x.shape)}")
    n = 1 + bool(use_bias)
    w = cv.weights(layer, ["kernel", "bias"][:n], [(K, units), (units,)][:n])
    native, act_layer = fused_activation(cv, layer)
    y = cv.plan.new(x.shape[:-1] + (units,), x.mask)
    cv.plan.emit("dense", layer.name, [x.slot], [y.slot], w[0], w[1] if use_bias else None, native)
    return [activation_after(cv, layer, act_layer, y) if act_layer else y]


@converts("Activation", stepwise=True, check=check_activation_option)
def _activation(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    act = layer.cfg.get("activation", "linear")
    if isinstance(act, dict) and act.get("class_name") in _ACTIVATION_LAYERS:
        return [activation_after(cv, layer, act, x)]
    native = native_activation(cv, layer, act)
    if native == Act.linear:
        return [x]
    y = cv.plan.new(x.shape, x.mask)
    cv.plan.emit("activation", layer.name, [x.slot], [y.slot], native)
    return [y]


def _param_activation(cv: Converter, layer: KerasLayer, x: Sym, kind: ParamActKind, a: float = 0.0,
                      b: float = 0.0, c: float = 0.0, param: Any = None) -> List[Sym]:
    """A ``param_activation`` op (ReLU, LeakyReLU, ELU, PReLU)."""
    y = cv.plan.new(x.shape, x.mask)
    cv.plan.emit("param_activation", layer.name, [x.slot], [y.slot], kind, float(a), float(b), float(c), param)
    return [y]


@converts("ReLU", stepwise=True)
def _relu(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    max_value = layer.cfg.get("max_value")
    slope = float(layer.cfg.get("negative_slope", 0.0) or 0.0)
    threshold = float(layer.cfg.get("threshold", 0.0) or 0.0)
    if max_value is None and slope == 0.0 and threshold == 0.0:
        y = cv.plan.new(x.shape, x.mask)
        cv.plan.emit("activation", layer.name, [x.slot], [y.slot], resolve("relu", cv.keras_major))
        return [y]
    cap = float("nan") if max_value is None else float(max_value)
    return _param_activation(cv, layer, x, ParamActKind.relu, cap, slope, threshold)


@converts("LeakyReLU", stepwise=True)
def _leaky_relu(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    slope = layer.cfg.get("negative_slope", layer.cfg.get("alpha", 0.3))
    return _param_activation(cv, layer, x, ParamActKind.leaky_relu, float(slope))


@converts("ELU", stepwise=True)
def _elu(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    return _param_activation(cv, layer, x, ParamActKind.elu, float(layer.cfg.get("alpha", 1.0)))


@converts("PReLU", weights=1, stepwise=True)
def _prelu(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    alpha_shape = list(x.shape[1:])
    for ax in as_list(layer.cfg.get("shared_axes") or []):
        ax = config_int(ax, layer.owner, "shared_axes")
        if 1 <= ax < len(x.shape):
            alpha_shape[ax - 1] = 1
    (alpha,) = cv.weights(layer, ["alpha"], [tuple(alpha_shape)])
    return _param_activation(cv, layer, x, ParamActKind.prelu, param=alpha)


def _check_softmax(q: SupportQuery) -> List[str]:
    if as_list(q.cfg.get("axis", -1)) != [-1]:
        return [f"{q.who}: axis={q.cfg.get('axis')!r}; only the last axis is supported"]
    return []


@converts("Softmax", stepwise=True, check=_check_softmax)
def _softmax(cv: Converter, layer: KerasLayer, ins: List[Sym], kw: Dict[str, Any]) -> List[Sym]:
    x = cv.single_input(layer, ins)
    if x.mask is not None:
        raise UnsupportedLayerError(
            f"{cv.source.name}: {layer.owner} receives a mask; a masked Softmax layer is not supported"
        )
    y = cv.plan.new(x.shape, None)
    cv.plan.emit("activation", layer.name, [x.slot], [y.slot], resolve("softmax", cv.keras_major))
    return [y]
