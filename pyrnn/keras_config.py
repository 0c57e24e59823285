"""Reading Keras model configs: the JSON that ``model.to_json()`` and both file formats hold.

A config is untrusted input (it comes from a file), so every helper here checks the
shape of what it reads and raises :class:`pyrnn.ModelFormatError` with a message that
names the layer, instead of letting a KeyError or TypeError escape. The same helpers
serve the file readers (``keras_files``), the converter (``convert``) and the public
layer classes (``layers``), so all three agree on what a config means.

Two dialects are read: Keras 3 and tf-keras 2. Where they differ (inbound nodes,
operation nodes, dtype policies) both spellings are handled here, next to each other.
The reference for their meaning is keras-semantics.md in the project's shared docs.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Optional, Tuple

from .errors import ModelFormatError

RNN_CLASSES = ("SimpleRNN", "LSTM", "GRU")
MODEL_CLASSES = ("Sequential", "Functional", "Model")

TensorRef = Tuple[str, int, int]  # (layer name, node index, tensor index)
InboundNode = Tuple[List[TensorRef], Dict[str, Any]]  # (input refs, {"initial_state": [refs], "mask": ref})


# ---- layers of a model config ---------------------------------------------------------------

def layer_config(layer_cfg: Dict[str, Any]) -> Dict[str, Any]:
    """A layer entry's ``config`` dict ({} when it is missing or not a dict)."""
    cfg = layer_cfg.get("config")
    return cfg if isinstance(cfg, dict) else {}


def layer_list(model_cfg: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The layer entries of a Sequential or Functional model config."""
    layers = (model_cfg.get("config") or {}).get("layers")
    if not isinstance(layers, list) or not all(isinstance(entry, dict) for entry in layers):
        raise ModelFormatError("the model config has no list of layers")
    return layers


def layer_name(layer_cfg: Dict[str, Any]) -> str:
    """A layer entry's name (Keras 3 records it next to the config, tf-keras inside it)."""
    cfg = layer_cfg.get("config")
    name = layer_cfg.get("name") or (cfg.get("name") if isinstance(cfg, dict) else None)
    if not isinstance(name, str):
        raise ModelFormatError(f"a {layer_cfg.get('class_name', '?')} layer in the config has no name")
    return name


def is_op_node(layer_cfg: Dict[str, Any]) -> bool:
    """Keras 3 functional configs record tensor operations (NotEqual, Any, LogicalOr,
    Concatenate, ...; mostly mask computations) as nodes; they are not layers and own
    no weights group. Legacy .h5 configs drop the module, so there an entry whose
    config lacks ``trainable`` (which every layer records) is taken for an operation."""
    module = layer_cfg.get("module")
    if module is not None:
        return str(module).startswith("keras.src.ops")
    cfg = layer_cfg.get("config")
    return (isinstance(cfg, dict) and "trainable" not in cfg
            and layer_cfg.get("class_name") not in ("InputLayer",) + MODEL_CLASSES)


def snake_case(name: str) -> str:
    """Keras's class-name to attribute-name conversion (LSTM -> lstm, PReLU -> p_re_lu)."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


# ---- values inside a layer config -----------------------------------------------------------

def as_list(value: Any) -> List[Any]:
    """A config value that may be a scalar or a list, as a list."""
    return list(value) if isinstance(value, (list, tuple)) else [value]


def config_int(value: Any, owner: str, what: str) -> int:
    """An integer option (a one-element list counts, as Keras writes ``kernel_size=[3]``)."""
    value = value[0] if isinstance(value, (list, tuple)) and len(value) == 1 else value
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or int(value) != value):
        raise ModelFormatError(f"{owner}: {what} must be an integer, got {value!r}")
    return int(value)


def config_float(value: Any, owner: str, what: str) -> float:
    """A finite real-number option."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ModelFormatError(f"{owner}: {what} must be a finite number, got {value!r}")
    return float(value)


def config_positive(value: Any, owner: str, what: str) -> int:
    """An integer option that must be at least 1 (sizes, strides)."""
    n = config_int(value, owner, what)
    if n < 1:
        raise ModelFormatError(f"{owner}: {what} must be at least 1, got {n}")
    return n


def dtype_name(dtype: Any) -> Optional[str]:
    """A layer's dtype policy name: a string (tf-keras) or a serialised DTypePolicy (Keras 3)."""
    if isinstance(dtype, dict):
        cfg = dtype.get("config")
        if isinstance(cfg, dict):
            return cfg.get("name")
        return dtype.get("class_name")
    return dtype if isinstance(dtype, str) else None


def activation_name(value: Any, owner: str) -> Any:
    """A serialised Keras activation as a name (strings pass through)."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        cfg = value.get("config")
        if value.get("class_name") == "function" and isinstance(cfg, str):
            return cfg
        raise ValueError(f"{owner}: activation {value.get('class_name', value)!r} is not a built-in Keras activation")
    name = getattr(value, "__name__", None)
    if isinstance(name, str):
        return name
    raise ValueError(f"{owner}: cannot interpret activation {value!r}")


def check_rnn_config(config: dict, owner: str, allow_stateful: bool = False) -> None:
    """Refuse options whose inference behaviour pyrnn does not reproduce. Whole models
    (pyrnn.load) carry stateful layers' states; a single layer object cannot."""
    if config.get("stateful") and not allow_stateful:
        raise ValueError(
            f"{owner}: stateful=True layers carry state between calls; build the pyrnn layer from a "
            "stateless copy and pass the states explicitly with initial_state"
        )
    if config.get("time_major"):
        raise ValueError(f"{owner}: time_major=True inputs are not supported; transpose to (batch, time, features)")
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name", dtype.get("class_name"))
    if isinstance(dtype, str) and dtype not in ("float32",):
        raise ValueError(
            f"{owner}: dtype policy {dtype!r} is not float32; pyrnn computes in float32 "
            "and would not match it"
        )


# ---- functional graphs ----------------------------------------------------------------------

def parse_inbound(layer_cfg: Dict[str, Any], owner: str) -> List[InboundNode]:
    """A functional layer's inbound nodes in either dialect, as (input refs, kwargs)
    where kwargs may hold 'initial_state' (refs) and 'mask' (a ref)."""
    raw = layer_cfg.get("inbound_nodes") or []
    if not isinstance(raw, list):
        raise ModelFormatError(f"{owner}: inbound_nodes is not a list")

    def ref(v: Any) -> Optional[TensorRef]:
        if isinstance(v, dict) and v.get("class_name") == "__keras_tensor__":
            h = (v.get("config") or {}).get("keras_history")
            if isinstance(h, list) and len(h) == 3 and isinstance(h[0], str):
                return (h[0], config_int(h[1], owner, "node index"), config_int(h[2], owner, "tensor index"))
            raise ModelFormatError(f"{owner}: malformed tensor reference {v!r}")
        if (isinstance(v, list) and len(v) in (3, 4) and isinstance(v[0], str)
                and all(isinstance(i, int) for i in v[1:3])):
            return (v[0], v[1], v[2])
        return None

    def refs(v: Any, depth: int = 0) -> List[TensorRef]:
        if depth > 16:
            raise ModelFormatError(f"{owner}: inbound node nested too deeply")
        r = ref(v)
        if r is not None:
            return [r]
        if isinstance(v, (list, tuple)):
            return [x for item in v for x in refs(item, depth + 1)]
        return []

    nodes: List[InboundNode] = []
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
