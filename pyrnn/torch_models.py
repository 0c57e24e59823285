"""PyTorch recurrent modules as pyrnn models: ``pyrnn.from_torch(module)``.

A ``torch.nn.LSTM``, ``GRU`` or ``RNN`` becomes the Keras model it equals, written as
a functional config (one recurrent layer per torch layer, ``Bidirectional`` with
``merge_mode="concat"`` for a bidirectional one), and goes through the same converter
and native plan as a Keras file. The meaning of the mapping lives here:

* weights: torch stores ``weight_ih`` (G*H, in) and ``weight_hh`` (G*H, H); Keras wants
  their transposes. LSTM gates are i, f, g, o in both. torch's GRU gates are r, z, n and
  Keras's z, r, h, and torch's GRU is Keras's ``reset_after=True`` (``b_ih`` is Keras's
  input bias row, ``b_hh`` its recurrent bias row). LSTM and RNN have one Keras bias:
  ``b_ih + b_hh``, summed in float64 and then rounded to float32.
* layout: (batch, time, features) with ``batch_first=True``, else (time, batch,
  features); an unbatched (time, features) input gives an unbatched output, as in torch.
* dropout between layers is a training-time option: inference ignores it (torch's
  ``eval()`` behaviour).

``torch`` is never imported here: a module passed in means torch is already loaded,
and its classes are read from ``sys.modules``.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ._compute import ComputeTypeLike, canonical_compute_type
from .errors import UnsupportedLayerError
from .keras_files import ModelSource
from .model import Model

__all__ = ["from_torch", "TorchModel"]

# torch class name -> (Keras class, gate count)
_KINDS: Dict[str, Tuple[str, int]] = {"LSTM": ("LSTM", 4), "GRU": ("GRU", 3), "RNN": ("SimpleRNN", 1)}


@dataclass(frozen=True)
class TorchSpec:
    """What a converted torch module's inputs and outputs look like."""

    kind: str  # "LSTM", "GRU" or "RNN"
    input_size: int
    hidden_size: int
    num_layers: int
    bidirectional: bool
    batch_first: bool
    return_state: bool
    description: str  # the module's repr, for messages

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1


class TorchModel(Model):
    """A ``torch.nn.LSTM`` / ``GRU`` / ``RNN`` converted by :func:`pyrnn.from_torch`.

    ``predict(x)`` (or ``model(x)``) takes the module's input layout ((batch, time,
    features) when ``batch_first``, else (time, batch, features); or unbatched (time,
    features)), as a numpy array or a CPU torch tensor, and returns what the module
    returns as ``output``, as float32 numpy. With ``return_state=True`` it returns
    ``(output, h_n)`` (GRU, RNN) or ``(output, (h_n, c_n))`` (LSTM), the states shaped
    (num_layers * directions, batch, hidden_size) as in torch.
    Everything else (``summary``, ``profile``, ``stream``, pickling) is :class:`Model`'s;
    a stream steps through (batch, features) rows whatever the module's layout.
    """

    def __init__(self, source: ModelSource, spec: TorchSpec, compute_type: ComputeTypeLike = "float32") -> None:
        super().__init__(source, compute_type)
        self.torch_spec = spec

    def __reduce__(self) -> Any:
        return (_rebuild_torch, (self._source, self.torch_spec, self.compute_type))

    def __repr__(self) -> str:
        s = self.torch_spec
        ctype = f", compute_type {self.compute_type!r}" if self.compute_type != "float32" else ""
        return (f"<pyrnn.TorchModel from {s.description}: {len(self._rows)} layer(s), {self.count_params():,} params"
                f"{', returns states' if s.return_state else ''}{ctype}>")

    def _origin(self) -> str:
        return f"from {self.torch_spec.description}"

    def _batch_first(self, x: Any) -> Tuple[np.ndarray, bool]:
        """x as a (batch, time, features) array, and whether it was unbatched."""
        s = self.torch_spec
        if hasattr(x, "detach") and hasattr(x, "cpu") and hasattr(x, "numpy"):  # a torch tensor
            x = x.detach().cpu().numpy()
        layout = "(batch, time, features)" if s.batch_first else "(time, batch, features)"
        try:
            a = np.asarray(x)
        except Exception as exc:
            raise TypeError(f"{s.description}: the input is not an array ({exc})") from None
        if a.dtype.kind not in "fiub":
            raise TypeError(f"{s.description}: the input must be numeric, got dtype {a.dtype}")
        if a.ndim not in (2, 3) or a.shape[-1] != s.input_size:
            raise ValueError(f"{s.description}: expected an input of shape {layout} or unbatched (time, features) "
                             f"with features = input_size = {s.input_size}, got shape {a.shape}")
        if a.shape[-2 if (a.ndim == 2 or s.batch_first) else 0] == 0:
            raise ValueError(f"{s.description}: the input needs at least one timestep, got shape {a.shape} "
                             f"(layout {layout})")
        if a.ndim == 2:
            return a[None], True
        return (a if s.batch_first else a.transpose(1, 0, 2)), False

    def predict(self, x: Any, batch_size: Optional[int] = None, verbose: int = 0, out: Any = None) -> Any:
        """Runs the module's computation; see :class:`TorchModel` for layouts. ``out=``
        (an array to write the output into) is supported for ``batch_first=True``
        models without ``return_state``."""
        s = self.torch_spec
        if out is not None and (s.return_state or not s.batch_first):
            raise ValueError(f"{s.description}: out= is supported for batch_first=True models without "
                             "return_state; use the returned arrays")
        a, unbatched = self._batch_first(x)
        if out is not None:
            super().predict(a, batch_size, verbose, out[None] if unbatched and isinstance(out, np.ndarray) else out)
            return out
        ys = super().predict(a, batch_size, verbose)
        parts: List[np.ndarray] = list(ys) if isinstance(ys, list) else [ys]
        y = parts[0]
        y = y[0] if unbatched else (y if s.batch_first else np.ascontiguousarray(y.transpose(1, 0, 2)))
        if not s.return_state:
            return y
        per_layer = 2 * s.directions if s.kind == "LSTM" else s.directions
        hs, cs = [], []
        for layer in range(s.num_layers):
            st = parts[1 + layer * per_layer: 1 + (layer + 1) * per_layer]
            if s.kind == "LSTM":  # Keras: [h_f, c_f(, h_b, c_b)]
                hs += st[0::2]
                cs += st[1::2]
            else:
                hs += st
        h_n = np.stack(hs)
        if unbatched:
            h_n = h_n[:, 0]
        if s.kind != "LSTM":
            return y, h_n
        c_n = np.stack(cs)
        return y, (h_n, c_n[:, 0] if unbatched else c_n)

    def profile(self, x: Any, repeats: int = 10, warmup: int = 1) -> Any:
        """:meth:`Model.profile` on the module's input layout."""
        return super().profile(self._batch_first(x)[0], repeats, warmup)


def batch_major_problem(model: Any) -> Optional[str]:
    """None when ``model.predict`` takes (batch, ...) rows and returns plain output arrays (every
    Keras model; a TorchModel of a ``batch_first=True`` module without ``return_state``), else
    what the TorchModel was converted with, for the message of a caller that splits batches."""
    spec = getattr(model, "torch_spec", None)
    if spec is None or (spec.batch_first and not spec.return_state):
        return None
    return f"{spec.description} was converted with batch_first={spec.batch_first}, return_state={spec.return_state}"


def _rebuild_torch(source: ModelSource, spec: TorchSpec, compute_type: str = "float32") -> TorchModel:
    return TorchModel(source, spec, compute_type)


def from_torch(module: Any, return_state: bool = False, compute_type: ComputeTypeLike = "float32") -> TorchModel:
    """Converts a ``torch.nn.LSTM``, ``torch.nn.GRU`` or ``torch.nn.RNN`` (any
    ``num_layers``, ``bidirectional``, ``batch_first``, ``bias``, RNN ``nonlinearity``
    tanh or relu) into a :class:`TorchModel`; the weights are copied, so later changes to
    the module do not reach it. The result computes what the module computes in
    ``eval()`` mode (dropout is ignored) from zero initial states.

    ``model.predict(x)`` returns torch's ``output``; with ``return_state=True`` it returns
    ``(output, h_n)`` or, for an LSTM, ``(output, (h_n, c_n))``, in torch's layouts.
    ``compute_type``: "float32" (default, exact), "bfloat16", "float16" or "int8", as in
    :func:`pyrnn.load`.

    Raises:
        TypeError: ``module`` is not one of those three classes (the message names it).
        UnsupportedLayerError: an option pyrnn cannot run (``proj_size > 0``).
        ValueError: an unknown ``compute_type``, or float16 and a weight beyond its range.
    """
    ctype = canonical_compute_type(compute_type, "pyrnn.from_torch")
    torch = sys.modules.get("torch")
    nn = getattr(torch, "nn", None)
    classes = tuple(getattr(nn, k) for k in _KINDS if hasattr(nn, k)) if nn is not None else ()
    if not classes or not isinstance(module, classes):
        what = type(module).__module__ + "." + type(module).__qualname__
        raise TypeError(f"pyrnn.from_torch converts a torch.nn.LSTM, torch.nn.GRU or torch.nn.RNN module, got {what}")
    if not isinstance(return_state, bool):
        raise TypeError(f"return_state must be True or False, got {return_state!r}")
    kind = next(k for k in _KINDS if isinstance(module, getattr(nn, k)))
    base = f"torch.nn.{kind}"
    desc = (f"torch.nn.{module!r}" if type(module) is getattr(nn, kind)
            else f"{type(module).__name__} (a {base}): {module!r}").replace("\n", " ")
    if kind == "LSTM" and int(getattr(module, "proj_size", 0) or 0) > 0:
        raise UnsupportedLayerError(f"{desc}: proj_size={module.proj_size} (LSTM with projections) is not supported; "
                                    "pyrnn runs LSTMs whose output is the hidden state")
    mode = str(getattr(module, "mode", ""))
    if kind == "RNN" and mode not in ("RNN_TANH", "RNN_RELU"):
        raise UnsupportedLayerError(f"{desc}: unknown RNN mode {mode!r}; expected nonlinearity 'tanh' or 'relu'")
    spec = TorchSpec(kind, int(module.input_size), int(module.hidden_size), int(module.num_layers),
                     bool(module.bidirectional), bool(module.batch_first), return_state, desc)
    if spec.num_layers < 1 or spec.hidden_size < 1 or spec.input_size < 1:
        raise ValueError(f"{desc}: num_layers, hidden_size and input_size must be at least 1")
    activation = "relu" if mode == "RNN_RELU" else "tanh"
    return TorchModel(_source(module, spec, bool(module.bias), activation), spec, ctype)


def _array(module: Any, name: str) -> np.ndarray:
    t = getattr(module, name)
    return np.asarray(t.detach().cpu().double().numpy(), dtype=np.float64)


def _keras_weights(module: Any, spec: TorchSpec, layer: int, suffix: str, bias: bool) -> List[np.ndarray]:
    """One direction of one layer in Keras's layout: kernel, recurrent_kernel[, bias]."""
    H, G = spec.hidden_size, _KINDS[spec.kind][1]
    w_ih = _array(module, f"weight_ih_l{layer}{suffix}")
    w_hh = _array(module, f"weight_hh_l{layer}{suffix}")
    b_ih = _array(module, f"bias_ih_l{layer}{suffix}") if bias else None
    b_hh = _array(module, f"bias_hh_l{layer}{suffix}") if bias else None

    def gates(a: np.ndarray) -> np.ndarray:  # rows in torch's gate order -> Keras's
        if spec.kind != "GRU":
            return a
        blocks = a.reshape((3, H) + a.shape[1:])
        return blocks[[1, 0, 2]].reshape(a.shape)  # (r, z, n) -> (z, r, h)

    out = [gates(w_ih).T, gates(w_hh).T]
    if b_ih is not None and b_hh is not None:
        out.append(np.stack([gates(b_ih), gates(b_hh)]) if spec.kind == "GRU" else b_ih + b_hh)
    assert out[0].shape[1] == G * H
    return [np.ascontiguousarray(w, dtype=np.float32) for w in out]


def _source(module: Any, spec: TorchSpec, bias: bool, activation: str) -> ModelSource:
    """The Keras functional model equal to the module, with its weights."""
    keras_cls = _KINDS[spec.kind][0]

    def ref(name: str, tensor: int = 0) -> List[Any]:
        return [name, 0, tensor]

    def call(arg: str) -> List[Dict[str, Any]]:
        tensor = {"class_name": "__keras_tensor__", "config": {"keras_history": ref(arg)}}
        return [{"args": [tensor], "kwargs": {}}]

    layers: List[Dict[str, Any]] = [{"class_name": "InputLayer", "name": "input", "module": "keras.layers",
                                     "config": {"name": "input", "batch_shape": [None, None, spec.input_size],
                                                "dtype": "float32"}, "inbound_nodes": []}]
    weights: Dict[str, List[Tuple[str, np.ndarray]]] = {}
    outputs: List[List[Any]] = []
    prev = "input"
    per_dir = 2 if spec.kind == "LSTM" else 1
    for k in range(spec.num_layers):
        name = f"{spec.kind.lower()}_l{k}"
        cell: Dict[str, Any] = {"name": name, "units": spec.hidden_size, "activation": activation,
                                "use_bias": bias, "return_sequences": True, "return_state": spec.return_state,
                                "go_backwards": False, "stateful": False, "dtype": "float32"}
        if spec.kind != "RNN":
            cell["recurrent_activation"] = "sigmoid"
        if spec.kind == "GRU":
            cell["reset_after"] = True
        directions = [""] + (["_reverse"] if spec.bidirectional else [])
        arrays = [w for sfx in directions for w in _keras_weights(module, spec, k, sfx, bias)]
        paths = ["kernel", "recurrent_kernel", "bias"][: 2 + bias]
        if spec.bidirectional:
            entry = {"class_name": "Bidirectional", "name": name, "module": "keras.layers",
                     "config": {"name": name, "merge_mode": "concat", "dtype": "float32",
                                "layer": {"class_name": keras_cls, "config": cell}}, "inbound_nodes": call(prev)}
            names = [f"{name}/{d}/{p}" for d in ("forward", "backward") for p in paths]
        else:
            entry = {"class_name": keras_cls, "name": name, "module": "keras.layers", "config": cell,
                     "inbound_nodes": call(prev)}
            names = [f"{name}/{p}" for p in paths]
        layers.append(entry)
        weights[name] = list(zip(names, arrays))
        if spec.return_state:
            outputs += [ref(name, 1 + i) for i in range(per_dir * spec.directions)]
        prev = name
    config = {"class_name": "Functional",
              "config": {"name": spec.kind.lower(), "layers": layers, "input_layers": [ref("input")],
                         "output_layers": [ref(prev)] + outputs}}
    return ModelSource(spec.description, config, "3", weights, "torch")
