"""Keras-exact SimpleRNN, LSTM, GRU and Bidirectional layers on the native core.

Weights use Keras's layout (``kernel`` (D, G*H), ``recurrent_kernel`` (H, G*H),
``bias``); gate order is i, f, c, o for LSTM and z, r, h for GRU. Python validates
and explains; one call into C++ runs the whole sequence with the GIL released.

``device="cuda"`` (or "cuda:N") runs a layer on a GPU in a CUDA build of pyrnn
(``PYRNN_CUDA=1 pip install .``), with numpy arrays copied in and out; asking for it
in a CPU-only build, or without a GPU, raises a RuntimeError that says which.

``compute_type`` ("float32", the default and Keras-exact; "bfloat16", "float16" or
"int8") picks reduced-precision arithmetic for the layer's weights on the CPU; see
pyrnn/_compute.py and the README's "Reduced precision" section for what each computes.
"""


from typing import Any, Dict, List, Optional, Sequence, Type, TypeVar, Union

import numpy as np

from . import _core, keras_objects
from ._compute import ComputeTypeLike
from ._recurrent import KINDS, MERGE_MODES, RecurrentKind, arguments_from_config, as_float_array, build_native

__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional"]

ArrayLike = Any
Output = Union[np.ndarray, List[np.ndarray]]

_R = TypeVar("_R", bound="_Recurrent")



def _as_mask(mask: Any, batch: int, steps: int, owner: str) -> np.ndarray:
    arr = np.asarray(mask)
    if arr.dtype.kind not in "biu":
        raise TypeError(f"{owner}: mask must be a boolean (batch, time) array, got dtype {arr.dtype}")
    if arr.shape != (batch, steps):
        raise ValueError(
            f"{owner}: mask must have shape (batch, time) = {(batch, steps)} to match the input, got {arr.shape}"
        )
    return np.ascontiguousarray(arr != 0, dtype=np.uint8)


class _Recurrent:
    """Shared machinery of SimpleRNN, LSTM and GRU (not public). Validation and weight
    packing live in ``_recurrent.build_native``, which the model converter uses too."""

    _kind: RecurrentKind = KINDS["SimpleRNN"]

    def __init__(
        self,
        kernel: ArrayLike,
        recurrent_kernel: ArrayLike,
        bias: Optional[ArrayLike],
        *,
        activation: Optional[str],
        recurrent_activation: Optional[str],
        return_sequences: bool,
        return_state: bool,
        go_backwards: bool,
        zero_output_for_mask: bool,
        reset_after: bool,
        keras_version: int,
        name: Optional[str],
        device: str = "cpu",
        compute_type: ComputeTypeLike = "float32",
    ) -> None:
        native = build_native(
            self._kind, kernel, recurrent_kernel, bias, activation=activation,
            recurrent_activation=recurrent_activation, return_sequences=return_sequences,
            return_state=return_state, go_backwards=go_backwards, zero_output_for_mask=zero_output_for_mask,
            reset_after=reset_after, keras_major=keras_version, name=name, device=device,
            display=type(self).__name__, compute_type=compute_type,
        )
        self.name = native.name
        self.units = native.units
        self.input_dim = native.input_dim
        self.activation = native.activation
        self.recurrent_activation = native.recurrent_activation
        self.return_sequences = native.return_sequences
        self.return_state = native.return_state
        self.go_backwards = native.go_backwards
        self.zero_output_for_mask = native.zero_output_for_mask
        self.reset_after = native.reset_after
        self.use_bias = native.weights[2] is not None
        self._weights = native.weights
        self.device = native.device
        #: The arithmetic of the layer's matmuls: "float32", "bfloat16", "float16" or "int8".
        self.compute_type: str = native.compute_type
        self._impl = native.impl

    # -- public API ---------------------------------------------------------------

    @property
    def num_states(self) -> int:
        return len(self._kind.states)

    def get_weights(self) -> List[np.ndarray]:
        """The weights in Keras's order and layout: kernel, recurrent_kernel[, bias]."""
        return [w.copy() for w in self._weights if w is not None]

    def __call__(self, x: ArrayLike, initial_state: Any = None, mask: Any = None) -> Output:
        """Run the layer on ``x`` of shape (batch, time, input_dim).

        ``initial_state``: a list of (batch, units) arrays in Keras's state order
        (``[h]``, or ``[h, c]`` for LSTM); zeros when omitted. ``mask``: boolean
        (batch, time); masked steps keep the state as Keras does. Returns float32
        arrays: the output, or ``[output, *states]`` with ``return_state``.
        """
        x, mask_u8 = self._check_input(x, mask)
        states = self._check_states(initial_state, x.shape[0])
        h0 = states[0] if states else None
        c0 = states[1] if states and len(states) > 1 else None
        y, h, c = self._impl.run(x, mask_u8, h0, c0)
        if not self.return_state:
            return y
        return [y, h, c] if self._kind.name == "LSTM" else [y, h]

    def __repr__(self) -> str:
        opts = [f"units={self.units}", f"input_dim={self.input_dim}", f"activation={self.activation!r}"]
        if self.recurrent_activation is not None:
            opts.append(f"recurrent_activation={self.recurrent_activation!r}")
        if self._kind.name == "GRU":
            opts.append(f"reset_after={self.reset_after}")
        for flag in ("return_sequences", "return_state", "go_backwards"):
            if getattr(self, flag):
                opts.append(f"{flag}=True")
        if not self.use_bias:
            opts.append("use_bias=False")
        if self.device != "cpu":
            opts.append(f"device={self.device!r}")
        if self.compute_type != "float32":
            opts.append(f"compute_type={self.compute_type!r}")
        return f"pyrnn.{type(self).__name__}({', '.join(opts)}, name={self.name!r})"

    # -- Keras interop ------------------------------------------------------------

    @classmethod
    def from_keras(cls: Type[_R], obj: Any, device: str = "cpu", compute_type: ComputeTypeLike = "float32") -> _R:
        """Build from a built Keras layer of this class, or a model whose only computing layer
        is one (InputLayer and Dropout-like layers aside); for any other model use
        :func:`pyrnn.from_keras`, which converts the whole model.

        Works with Keras 3 and tf-keras 2 objects; the activations follow the
        object's Keras version. ``device``: "cpu", or "cuda" / "cuda:N" in a CUDA build.
        ``compute_type``: "float32" (Keras-exact), "bfloat16", "float16" or "int8" (CPU only).

        Raises:
            TypeError: ``obj`` is neither such a layer nor a Keras model.
            ValueError: the layer has no weights yet (build it first), the model holds no such layer,
                several, or other layers this layer alone would drop; options pyrnn cannot reproduce
                (``stateful``, mixed precision).
        """
        layer = keras_objects.find_layer(obj, cls.__name__)
        if not layer.weights:
            raise keras_objects.unbuilt_error(layer, cls.__name__)
        return cls.from_config(layer.get_config(), layer.get_weights(), keras_version=keras_objects.keras_major(layer),
                               device=device, compute_type=compute_type)

    @classmethod
    def from_config(cls: Type[_R], config: dict, weights: Sequence[np.ndarray], keras_version: int = 3,
                    **overrides: Any) -> _R:
        """Build from a Keras layer config dict (``layer.get_config()``) and its weight list in
        Keras's order (``layer.get_weights()``); ``overrides`` replace constructor arguments.

        ``keras_version``: the Keras major version (2 or 3) whose activation meanings apply."""
        args, options = arguments_from_config(cls._kind, config, weights, keras_version, display=cls.__name__)
        options["keras_version"] = keras_version
        options.update(overrides)
        return cls(*args, **options)

    # -- validation -----------------------------------------------------------------

    @property
    def _owner(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    def _check_input(self, x: Any, mask: Any):
        x = as_float_array(x, "input", self._owner)
        if x.ndim != 3:
            raise ValueError(
                f"{self._owner}: expected input of shape (batch, time, {self.input_dim}), got shape {x.shape}"
            )
        if x.shape[2] != self.input_dim:
            raise ValueError(
                f"{self._owner}: expected {self.input_dim} input features (batch, time, {self.input_dim}), "
                f"got shape {x.shape}"
            )
        if x.shape[1] < 1:
            raise ValueError(f"{self._owner}: the input needs at least one timestep, got shape {x.shape}")
        mask_u8 = None if mask is None else _as_mask(mask, x.shape[0], x.shape[1], self._owner)
        return x, mask_u8

    def _check_states(self, initial_state: Any, batch: int, owner: Optional[str] = None) -> Optional[List[np.ndarray]]:
        owner = owner or self._owner
        if initial_state is None:
            return None
        if isinstance(initial_state, np.ndarray) or not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        names = self._kind.states
        if len(initial_state) != len(names):
            raise ValueError(
                f"{owner}: expected {len(names)} initial state(s) [{', '.join(names)}], got {len(initial_state)}"
            )
        out = []
        for nm, s in zip(names, initial_state):
            arr = as_float_array(s, f"initial state {nm}", owner)
            if arr.shape != (batch, self.units):
                raise ValueError(
                    f"{owner}: initial state {nm} must have shape (batch, units) = {(batch, self.units)}, "
                    f"got {arr.shape}"
                )
            out.append(arr)
        return out


class SimpleRNN(_Recurrent):
    """Keras ``SimpleRNN``: ``h_t = activation(x_t @ kernel + bias + h_{t-1} @ recurrent_kernel)``.

    Args:
        kernel: input weights, shape ``(input_dim, units)``.
        recurrent_kernel: recurrent weights, shape ``(units, units)``.
        bias: shape ``(units,)``, or None for ``use_bias=False``.
        activation: any built-in Keras activation name (default ``"tanh"``).
        return_sequences: return every step's output ``(batch, time, units)`` instead of the last ``(batch, units)``.
        return_state: also return the final state: ``[output, h]``.
        go_backwards: process the sequence in reverse (the returned sequence is reversed too, as in Keras).
        zero_output_for_mask: masked steps output zeros instead of repeating the last output.
        keras_version: 3 (default) or 2: the Keras whose activation meanings apply (``hard_sigmoid`` differs).
        name: a label for messages and ``repr``.
        device: ``"cpu"``, or ``"cuda"`` / ``"cuda:N"`` in a CUDA build.
        compute_type: ``"float32"`` (default, Keras-exact), or reduced precision on the CPU:
            ``"bfloat16"`` / ``"float16"`` (recurrent and wide input kernels rounded once, float32 arithmetic) or
            ``"int8"`` (per-column int8 weights, 7-bit dynamic input rows); spellings such as
            ``"bf16"``, ``"fp16"``, ``np.float16`` are accepted. The weights returned by
            ``get_weights`` stay the float32 ones given.

    Call it as ``layer(x, initial_state=None, mask=None)`` with ``x`` of shape ``(batch, time, input_dim)``;
    see :meth:`__call__`. Build it from Keras with :meth:`from_keras`.

    Raises:
        ValueError: weight shapes that disagree (the message gives the expected and the actual shape),
            an unknown activation, an unknown compute_type, a reduced compute_type with a CUDA device,
            float16 with a weight beyond its range (one that rounds to infinity, |w| >= 65520), int8 with a
            non-finite weight.
        TypeError: non-numeric weights.
    """

    _kind = KINDS["SimpleRNN"]

    def __init__(
        self,
        kernel: ArrayLike,
        recurrent_kernel: ArrayLike,
        bias: Optional[ArrayLike] = None,
        *,
        activation: Optional[str] = "tanh",
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        zero_output_for_mask: bool = False,
        keras_version: int = 3,
        name: Optional[str] = None,
        device: str = "cpu",
        compute_type: ComputeTypeLike = "float32",
    ) -> None:
        """Validates the Keras-layout weights and packs them for the native kernels (see the class
        docstring for every argument)."""
        super().__init__(
            kernel, recurrent_kernel, bias, activation=activation, recurrent_activation=None,
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            zero_output_for_mask=zero_output_for_mask, reset_after=False, keras_version=keras_version, name=name,
            device=device, compute_type=compute_type,
        )


class LSTM(_Recurrent):
    """Keras ``LSTM``: gates in Keras's order i, f, c, o; states ``[h, c]``.

    Args:
        kernel: input weights, shape ``(input_dim, 4 * units)``.
        recurrent_kernel: recurrent weights, shape ``(units, 4 * units)``.
        bias: shape ``(4 * units,)``, or None for ``use_bias=False``.
        activation: cell and output activation, any built-in Keras activation (default ``"tanh"``).
        recurrent_activation: gate activation (default ``"sigmoid"``).
        return_sequences: return every step's output ``(batch, time, units)`` instead of the last ``(batch, units)``.
        return_state: also return the final states: ``[output, h, c]``.
        go_backwards: process the sequence in reverse (the returned sequence is reversed too, as in Keras).
        zero_output_for_mask: masked steps output zeros instead of repeating the last output.
        keras_version: 3 (default) or 2: the Keras whose activation meanings apply (``hard_sigmoid`` differs).
        name: a label for messages and ``repr``.
        device: ``"cpu"``, or ``"cuda"`` / ``"cuda:N"`` in a CUDA build.
        compute_type: ``"float32"`` (default, Keras-exact), or reduced precision on the CPU:
            ``"bfloat16"`` / ``"float16"`` (recurrent and wide input kernels rounded once, float32 arithmetic) or
            ``"int8"`` (per-column int8 weights, 7-bit dynamic input rows); spellings such as
            ``"bf16"``, ``"fp16"``, ``np.float16`` are accepted. The weights returned by
            ``get_weights`` stay the float32 ones given.

    Call it as ``layer(x, initial_state=None, mask=None)`` with ``x`` of shape ``(batch, time, input_dim)``;
    see :meth:`__call__`. Build it from Keras with :meth:`from_keras`.

    Raises:
        ValueError: weight shapes that disagree (the message gives the expected and the actual shape),
            an unknown activation, an unknown compute_type, a reduced compute_type with a CUDA device,
            float16 with a weight beyond its range (one that rounds to infinity, |w| >= 65520), int8 with a
            non-finite weight.
        TypeError: non-numeric weights.
    """

    _kind = KINDS["LSTM"]

    def __init__(
        self,
        kernel: ArrayLike,
        recurrent_kernel: ArrayLike,
        bias: Optional[ArrayLike] = None,
        *,
        activation: Optional[str] = "tanh",
        recurrent_activation: Optional[str] = "sigmoid",
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        zero_output_for_mask: bool = False,
        keras_version: int = 3,
        name: Optional[str] = None,
        device: str = "cpu",
        compute_type: ComputeTypeLike = "float32",
    ) -> None:
        """Validates the Keras-layout weights and packs them for the native kernels (see the class
        docstring for every argument)."""
        super().__init__(
            kernel, recurrent_kernel, bias, activation=activation, recurrent_activation=recurrent_activation,
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            zero_output_for_mask=zero_output_for_mask, reset_after=False, keras_version=keras_version, name=name,
            device=device, compute_type=compute_type,
        )


class GRU(_Recurrent):
    """Keras ``GRU``: gates in Keras's order z, r, h; state ``[h]``.

    Args:
        kernel: input weights, shape ``(input_dim, 3 * units)``.
        recurrent_kernel: recurrent weights, shape ``(units, 3 * units)``.
        bias: shape ``(2, 3 * units)`` with ``reset_after=True`` (input and recurrent biases),
            ``(3 * units,)`` with ``reset_after=False``, or None for ``use_bias=False``.
        activation: candidate activation, any built-in Keras activation (default ``"tanh"``).
        recurrent_activation: gate activation (default ``"sigmoid"``).
        reset_after: apply the reset gate after the recurrent matmul (Keras's default since 2.x, and
            cuDNN's/PyTorch's form) or before it.
        return_sequences: return every step's output ``(batch, time, units)`` instead of the last ``(batch, units)``.
        return_state: also return the final state: ``[output, h]``.
        go_backwards: process the sequence in reverse (the returned sequence is reversed too, as in Keras).
        zero_output_for_mask: masked steps output zeros instead of repeating the last output.
        keras_version: 3 (default) or 2: the Keras whose activation meanings apply (``hard_sigmoid`` differs).
        name: a label for messages and ``repr``.
        device: ``"cpu"``, or ``"cuda"`` / ``"cuda:N"`` in a CUDA build.
        compute_type: ``"float32"`` (default, Keras-exact), or reduced precision on the CPU:
            ``"bfloat16"`` / ``"float16"`` (recurrent and wide input kernels rounded once, float32 arithmetic) or
            ``"int8"`` (per-column int8 weights, 7-bit dynamic input rows); spellings such as
            ``"bf16"``, ``"fp16"``, ``np.float16`` are accepted. The weights returned by
            ``get_weights`` stay the float32 ones given.

    Call it as ``layer(x, initial_state=None, mask=None)`` with ``x`` of shape ``(batch, time, input_dim)``;
    see :meth:`__call__`. Build it from Keras with :meth:`from_keras`.

    Raises:
        ValueError: weight shapes that disagree (the message gives the expected and the actual shape),
            an unknown activation, an unknown compute_type, a reduced compute_type with a CUDA device,
            float16 with a weight beyond its range (one that rounds to infinity, |w| >= 65520), int8 with a
            non-finite weight.
        TypeError: non-numeric weights.
    """

    _kind = KINDS["GRU"]

    def __init__(
        self,
        kernel: ArrayLike,
        recurrent_kernel: ArrayLike,
        bias: Optional[ArrayLike] = None,
        *,
        activation: Optional[str] = "tanh",
        recurrent_activation: Optional[str] = "sigmoid",
        reset_after: bool = True,
        return_sequences: bool = False,
        return_state: bool = False,
        go_backwards: bool = False,
        zero_output_for_mask: bool = False,
        keras_version: int = 3,
        name: Optional[str] = None,
        device: str = "cpu",
        compute_type: ComputeTypeLike = "float32",
    ) -> None:
        """Validates the Keras-layout weights and packs them for the native kernels (see the class
        docstring for every argument)."""
        super().__init__(
            kernel, recurrent_kernel, bias, activation=activation, recurrent_activation=recurrent_activation,
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            zero_output_for_mask=zero_output_for_mask, reset_after=reset_after, keras_version=keras_version, name=name,
            device=device, compute_type=compute_type,
        )


_RNN_LAYERS: Dict[str, Type[_Recurrent]] = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}


class Bidirectional:
    """Keras ``Bidirectional``: a forward and a backward layer merged.

    The backward output is flipped back in time when sequences are returned; with a
    mask, masked steps output zeros in that case (as Keras forces). ``merge_mode``:
    "concat", "sum", "mul", "ave" or None (two outputs). With ``return_state`` the
    result is ``[output(s)..., *forward_states, *backward_states]``. The two layers
    must share their ``compute_type``, which the ``compute_type`` property reports.
    """

    def __init__(self, forward: _Recurrent, backward: _Recurrent, merge_mode: Optional[str] = "concat",
                 name: Optional[str] = None) -> None:
        self.name = name or "bidirectional"
        owner = f"Bidirectional {self.name!r}"
        for role, layer in (("forward", forward), ("backward", backward)):
            if not isinstance(layer, _Recurrent):
                raise TypeError(
                    f"{owner}: {role} must be a pyrnn SimpleRNN, LSTM or GRU, got {type(layer).__name__}"
                )
        for role, layer in (("forward", forward), ("backward", backward)):
            if layer.device != "cpu":
                raise ValueError(
                    f"{owner}: the {role} layer is on {layer.device}; Bidirectional runs on the CPU "
                    "(build its layers with device='cpu')"
                )
        if type(forward) is not type(backward):
            raise ValueError(
                f"{owner}: forward and backward must be the same kind of layer, got "
                f"{type(forward).__name__} and {type(backward).__name__}"
            )
        for attr in ("units", "input_dim", "return_sequences", "return_state", "compute_type"):
            if getattr(forward, attr) != getattr(backward, attr):
                raise ValueError(
                    f"{owner}: forward and backward disagree on {attr}: "
                    f"{getattr(forward, attr)!r} vs {getattr(backward, attr)!r}"
                )
        if forward.go_backwards == backward.go_backwards:
            raise ValueError(
                f"{owner}: forward and backward layers need different go_backwards values, "
                f"both have go_backwards={forward.go_backwards}"
            )
        if merge_mode not in MERGE_MODES:
            raise ValueError(
                f"{owner}: unknown merge_mode {merge_mode!r}; expected one of 'concat', 'sum', 'mul', 'ave' or None"
            )
        self.forward_layer = forward
        self.backward_layer = backward
        self.merge_mode = merge_mode
        self.return_sequences = forward.return_sequences
        self.return_state = forward.return_state

    @property
    def units(self) -> int:
        return self.forward_layer.units

    @property
    def compute_type(self) -> str:
        """The compute type of both directions (they must agree)."""
        return self.forward_layer.compute_type

    @property
    def input_dim(self) -> int:
        return self.forward_layer.input_dim

    def __call__(self, x: ArrayLike, initial_state: Any = None, mask: Any = None) -> Output:
        """Run both directions on ``x`` (batch, time, input_dim) and merge.

        ``initial_state``: forward states then backward states (2 for SimpleRNN/GRU,
        4 for LSTM).
        """
        owner = f"Bidirectional {self.name!r}"
        fwd, bwd = self.forward_layer, self.backward_layer
        x, mask_u8 = fwd._check_input(x, mask)
        h0f = c0f = h0b = c0b = None
        if initial_state is not None:
            if not isinstance(initial_state, (list, tuple)):
                raise TypeError(f"{owner}: initial_state must be a list of arrays, got {type(initial_state).__name__}")
            n = fwd.num_states
            if len(initial_state) != 2 * n:
                raise ValueError(
                    f"{owner}: expected {2 * n} initial states (forward {fwd._kind.states} then backward "
                    f"{bwd._kind.states}), got {len(initial_state)}"
                )
            sf = fwd._check_states(list(initial_state[:n]), x.shape[0], owner + " (forward)")
            sb = bwd._check_states(list(initial_state[n:]), x.shape[0], owner + " (backward)")
            assert sf is not None and sb is not None  # None only for initial_state=None
            h0f, h0b = sf[0], sb[0]
            if n == 2:
                c0f, c0b = sf[1], sb[1]
        merged, yf, yb, hf, cf, hb, cb = _core.run_bidirectional(
            fwd._impl, bwd._impl, MERGE_MODES[self.merge_mode], x, mask_u8, h0f, c0f, h0b, c0b
        )
        outputs = [yf, yb] if self.merge_mode is None else [merged]
        if not self.return_state:
            return outputs if self.merge_mode is None else merged
        states = [hf, cf, hb, cb] if fwd.num_states == 2 else [hf, hb]
        return outputs + states

    def __repr__(self) -> str:
        return (
            f"pyrnn.Bidirectional({self.forward_layer!r}, {self.backward_layer!r}, "
            f"merge_mode={self.merge_mode!r}, name={self.name!r})"
        )

    @classmethod
    def from_keras(cls, obj: Any, compute_type: ComputeTypeLike = "float32") -> "Bidirectional":
        """Build from a Keras ``Bidirectional`` layer, or a model holding exactly one;
        ``compute_type`` applies to both directions (see :class:`LSTM`)."""
        layer = keras_objects.find_layer(obj, "Bidirectional")
        if not layer.weights:
            raise keras_objects.unbuilt_error(layer, "Bidirectional")
        keras_major = keras_objects.keras_major(layer)
        halves = []
        for role in ("forward_layer", "backward_layer"):
            sub = getattr(layer, role)
            kind = type(sub).__name__
            if kind not in _RNN_LAYERS:
                raise ValueError(
                    f"Bidirectional {layer.name!r}: the wrapped layer is a {kind}; "
                    "pyrnn supports SimpleRNN, LSTM and GRU"
                )
            halves.append(_RNN_LAYERS[kind].from_config(sub.get_config(), sub.get_weights(), keras_version=keras_major,
                                                        compute_type=compute_type))
        return cls(halves[0], halves[1], merge_mode=layer.merge_mode, name=layer.name)
