"""The native recurrent layer, built once for both paths that need one.

The public classes (``pyrnn.LSTM(...)``, ``LSTM.from_config``) and the model converter
both turn Keras weights and options into a ``_core.RecurrentLayer``. They must check
the same things with the same messages and pack the weights the same way, so both
call :func:`build_native` (arrays and options) or :func:`native_from_config` (a Keras
layer config); the converter never builds a public layer object to reach its native
part.

Weights use Keras's layout (``kernel`` (D, G*H), ``recurrent_kernel`` (H, G*H),
``bias``); gate order is i, f, c, o for LSTM and z, r, h for GRU. ``compute_type``
(pyrnn/_compute.py) is handed to the native layer, which rounds or quantizes the two
kernel matrices once, when it packs them; the weights kept here stay float32.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from . import _config, _core
from ._compute import ComputeTypeError, canonical_compute_type, is_cuda_device, native_compute_type
from ._core import CellKind, MergeMode, gate_count
from .activations import canonical_name, resolve
from .keras_config import activation_name, check_rnn_config

#: Bidirectional ``merge_mode`` (Keras's string, or None: two outputs) -> the native mode.
MERGE_MODES: Dict[Optional[str], MergeMode] = {
    None: MergeMode.none, **{m.name: m for m in MergeMode if m is not MergeMode.none}
}


@dataclass(frozen=True)
class RecurrentKind:
    """What distinguishes SimpleRNN, LSTM and GRU: the native cell kind and the state
    names in Keras's order."""

    name: str
    cell: CellKind
    states: Tuple[str, ...]

    @property
    def gates(self) -> int:
        """The gate count G (weights are G*units wide), as the native layer counts them."""
        return gate_count(self.cell)


KINDS: Dict[str, RecurrentKind] = {
    "SimpleRNN": RecurrentKind("SimpleRNN", CellKind.simple_rnn, ("h",)),
    "LSTM": RecurrentKind("LSTM", CellKind.lstm, ("h", "c")),
    "GRU": RecurrentKind("GRU", CellKind.gru, ("h",)),
}


@dataclass
class NativeRecurrent:
    """A validated recurrent layer: its options in canonical form and the native layer
    holding the packed weights."""

    kind: RecurrentKind
    name: str
    units: int
    input_dim: int
    activation: str
    recurrent_activation: Optional[str]
    return_sequences: bool
    return_state: bool
    go_backwards: bool
    zero_output_for_mask: bool
    reset_after: bool
    weights: Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]
    device: str
    impl: Any  # _core.RecurrentLayer or _core.CudaRecurrentLayer
    compute_type: str = "float32"  # canonical (pyrnn/_compute.py)

    @property
    def num_states(self) -> int:
        return len(self.kind.states)


def as_float_array(value: Any, what: str, owner: str) -> np.ndarray:
    """A numeric array as C-contiguous float32 (copying only when needed)."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{owner}: {what} must be a numeric array, got {type(value).__name__} ({exc})") from None
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{owner}: {what} must be a real numeric array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def build_native(
    kind: RecurrentKind,
    kernel: Any,
    recurrent_kernel: Any,
    bias: Optional[Any],
    *,
    activation: Optional[str],
    recurrent_activation: Optional[str],
    return_sequences: bool,
    return_state: bool,
    go_backwards: bool,
    zero_output_for_mask: bool,
    reset_after: bool,
    keras_major: int,
    name: Optional[str],
    device: str = "cpu",
    display: Optional[str] = None,
    compute_type: Any = "float32",
) -> NativeRecurrent:
    """Checks the weights against each other and the options, then packs them into a
    native layer. ``display`` is the class name messages use (a user's subclass of
    pyrnn.LSTM keeps its own name); it defaults to the kind's name. ``compute_type``:
    any spelling :func:`pyrnn._compute.canonical_compute_type` accepts; CUDA layers
    take float32 only."""
    cls = display or kind.name
    name = name or cls.lower()
    owner = f"{cls} {name!r}"
    ctype = canonical_compute_type(compute_type, owner)
    if ctype != "float32" and is_cuda_device(device):
        raise ComputeTypeError(
            f"{owner}: compute_type={ctype!r} runs on the CPU only; CUDA layers (device={device!r}) compute in "
            "float32: use device='cpu' for reduced precision, or compute_type='float32' on the GPU"
        )
    kernel = as_float_array(kernel, "kernel", owner)
    recurrent_kernel = as_float_array(recurrent_kernel, "recurrent_kernel", owner)
    G = kind.gates
    if recurrent_kernel.ndim != 2 or recurrent_kernel.shape[0] * G != recurrent_kernel.shape[1]:
        raise ValueError(
            f"{owner}: recurrent_kernel must have shape (units, {G}*units), got {recurrent_kernel.shape}"
        )
    units = recurrent_kernel.shape[0]
    if units < 1:
        raise ValueError(f"{owner}: units must be at least 1, got recurrent_kernel shape {recurrent_kernel.shape}")
    if kernel.ndim != 2 or kernel.shape[1] != G * units or kernel.shape[0] < 1:
        raise ValueError(
            f"{owner}: kernel must have shape (input_dim, {G * units}) for units={units}, got {kernel.shape}"
        )
    is_gru = kind.name == "GRU"
    if bias is not None:
        bias = as_float_array(bias, "bias", owner)
        expected = (2, G * units) if (is_gru and reset_after) else (G * units,)
        if bias.shape != expected:
            hint = ""
            if is_gru:
                hint = " (GRU with reset_after=True has a (2, 3*units) bias; reset_after=False a (3*units,) bias)"
            raise ValueError(f"{owner}: bias must have shape {expected}, got {bias.shape}{hint}")
    canonical_activation = canonical_name(activation, keras_major)
    canonical_recurrent = (
        canonical_name(recurrent_activation, keras_major) if recurrent_activation is not None or G > 1 else None
    )
    cuda_index = _config.cuda_device_index(device, owner)
    native = _core.RecurrentLayer if cuda_index is None else _core.CudaRecurrentLayer
    extra: Dict[str, Any] = (
        {"compute_type": native_compute_type(ctype)} if cuda_index is None else {"device": cuda_index}
    )
    try:
        impl = native(
            kind.cell,
            resolve(activation, keras_major),
            resolve(recurrent_activation, keras_major) if G > 1 else _core.Act.linear,
            bool(reset_after),
            bool(go_backwards),
            bool(return_sequences),
            bool(zero_output_for_mask),
            kernel,
            recurrent_kernel,
            bias,
            **extra,
        )
    except ValueError as exc:
        if ctype == "float32":
            raise
        # What packing refuses for a reduced type: float16 and a weight beyond its range, int8 and a
        # non-finite weight.
        raise ComputeTypeError(f"{owner}: {exc}") from None
    return NativeRecurrent(
        kind=kind,
        name=name,
        units=int(units),
        input_dim=int(kernel.shape[0]),
        activation=canonical_activation,
        recurrent_activation=canonical_recurrent,
        return_sequences=bool(return_sequences),
        return_state=bool(return_state),
        go_backwards=bool(go_backwards),
        zero_output_for_mask=bool(zero_output_for_mask),
        reset_after=bool(reset_after),
        weights=(kernel, recurrent_kernel, bias),
        device="cpu" if cuda_index is None else f"cuda:{cuda_index}",
        impl=impl,
        compute_type=ctype,
    )


def arguments_from_config(
    kind: RecurrentKind, config: dict, weights: Sequence[np.ndarray], keras_major: int, display: Optional[str] = None
) -> Tuple[Tuple[Any, Any, Any], Dict[str, Any]]:
    """A Keras layer config and its weight list (Keras order) as the positional weights
    and keyword options of the layer's constructor, after checking that the config's
    options are ones pyrnn reproduces and that the weight count fits it."""
    cls = display or kind.name
    name = config.get("name", cls.lower())
    owner = f"{cls} {name!r}"
    check_rnn_config(config, owner)
    use_bias = config.get("use_bias", True)
    expected = 3 if use_bias else 2
    if len(weights) != expected:
        raise ValueError(
            f"{owner}: expected {expected} weight arrays (kernel, recurrent_kernel{', bias' if use_bias else ''}), "
            f"got {len(weights)} with shapes {[tuple(np.shape(w)) for w in weights]}"
        )
    kernel, recurrent = weights[0], weights[1]
    units = config.get("units")
    if units is not None and np.shape(recurrent)[:1] != (units,):
        raise ValueError(
            f"{owner}: config says units={units} but recurrent_kernel has shape {tuple(np.shape(recurrent))}"
        )
    options: Dict[str, Any] = dict(
        activation=activation_name(config.get("activation", "tanh"), owner),
        return_sequences=config.get("return_sequences", False),
        return_state=config.get("return_state", False),
        go_backwards=config.get("go_backwards", False),
        zero_output_for_mask=config.get("zero_output_for_mask", False),
        name=name,
    )
    if kind.gates > 1:
        options["recurrent_activation"] = activation_name(config.get("recurrent_activation", "sigmoid"), owner)
    if kind.name == "GRU":
        options["reset_after"] = config.get("reset_after", True)
    return (kernel, recurrent, weights[2] if use_bias else None), options


def native_from_config(kind: RecurrentKind, config: dict, weights: Sequence[np.ndarray],
                       keras_major: int, compute_type: str = "float32") -> NativeRecurrent:
    """The native layer for a Keras layer config (what ``LSTM.from_config`` builds,
    without the public object around it), computing in ``compute_type``."""
    args, options = arguments_from_config(kind, config, weights, keras_major)
    options.setdefault("recurrent_activation", None)
    options.setdefault("reset_after", False)
    return build_native(kind, *args, keras_major=keras_major, compute_type=compute_type, **options)
