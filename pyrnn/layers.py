"""Keras-exact SimpleRNN, LSTM, GRU and Bidirectional layers on the native core.

Weights use Keras's layout (``kernel`` (D, G*H), ``recurrent_kernel`` (H, G*H),
``bias``); gate order is i, f, c, o for LSTM and z, r, h for GRU. Python validates
and explains; one call into C++ runs the whole sequence with the GIL released.

``device="cuda"`` (or "cuda:N") runs a layer on a GPU in a CUDA build of pyrnn
(``PYRNN_CUDA=1 pip install .``), with numpy arrays copied in and out; asking for it
in a CPU-only build, or without a GPU, raises a RuntimeError that says which.
"""


from typing import Any, List, Optional, Sequence, Type, TypeVar, Union

import numpy as np

from . import _config, _core, _keras
from .activations import canonical_name, resolve

__all__ = ["SimpleRNN", "LSTM", "GRU", "Bidirectional"]

ArrayLike = Any
Output = Union[np.ndarray, List[np.ndarray]]

_R = TypeVar("_R", bound="_Recurrent")

_MERGE_MODES = {"concat": 0, "sum": 1, "mul": 2, "ave": 3, None: 4}


def _shape(a: Any) -> str:
    return str(tuple(np.shape(a)))


def _as_float_array(value: Any, what: str, owner: str) -> np.ndarray:
    """A numeric array as C-contiguous float32 (copying only when needed)."""
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{owner}: {what} must be a numeric array, got {type(value).__name__} ({exc})") from None
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"{owner}: {what} must be a real numeric array, got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.float32)


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
    """Shared machinery of SimpleRNN, LSTM and GRU (not public)."""

    _KIND = -1
    _GATES = 1
    _STATES = ("h",)

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
    ) -> None:
        cls = type(self).__name__
        self.name = name or cls.lower()
        owner = f"{cls} {self.name!r}"
        kernel = _as_float_array(kernel, "kernel", owner)
        recurrent_kernel = _as_float_array(recurrent_kernel, "recurrent_kernel", owner)
        G = self._GATES
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
        if bias is not None:
            bias = _as_float_array(bias, "bias", owner)
            expected = (2, G * units) if (self._KIND == 2 and reset_after) else (G * units,)
            if bias.shape != expected:
                hint = ""
                if self._KIND == 2:
                    hint = " (GRU with reset_after=True has a (2, 3*units) bias; reset_after=False a (3*units,) bias)"
                raise ValueError(f"{owner}: bias must have shape {expected}, got {bias.shape}{hint}")
        self.units = int(units)
        self.input_dim = int(kernel.shape[0])
        self.activation = canonical_name(activation, keras_version)
        self.recurrent_activation = (
            canonical_name(recurrent_activation, keras_version) if recurrent_activation is not None or G > 1 else None
        )
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.reset_after = bool(reset_after)
        self.use_bias = bias is not None
        self._weights = (kernel, recurrent_kernel, bias)
        cuda_index = _config.cuda_device_index(device, owner)
        self.device = "cpu" if cuda_index is None else f"cuda:{cuda_index}"
        native = _core.RecurrentLayer if cuda_index is None else _core.CudaRecurrentLayer
        extra = {} if cuda_index is None else {"device": cuda_index}
        self._impl = native(
            self._KIND,
            resolve(activation, keras_version),
            resolve(recurrent_activation, keras_version) if G > 1 else 0,
            self.reset_after,
            self.go_backwards,
            self.return_sequences,
            self.zero_output_for_mask,
            kernel,
            recurrent_kernel,
            bias,
            **extra,
        )

    # -- public API ---------------------------------------------------------------

    @property
    def num_states(self) -> int:
        return len(self._STATES)

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
        return [y, h, c] if self._KIND == 1 else [y, h]

    def __repr__(self) -> str:
        opts = [f"units={self.units}", f"input_dim={self.input_dim}", f"activation={self.activation!r}"]
        if self.recurrent_activation is not None:
            opts.append(f"recurrent_activation={self.recurrent_activation!r}")
        if self._KIND == 2:
            opts.append(f"reset_after={self.reset_after}")
        for flag in ("return_sequences", "return_state", "go_backwards"):
            if getattr(self, flag):
                opts.append(f"{flag}=True")
        if not self.use_bias:
            opts.append("use_bias=False")
        if self.device != "cpu":
            opts.append(f"device={self.device!r}")
        return f"pyrnn.{type(self).__name__}({', '.join(opts)}, name={self.name!r})"

    # -- Keras interop ------------------------------------------------------------

    @classmethod
    def from_keras(cls: Type[_R], obj: Any, device: str = "cpu") -> _R:
        """Build from a built Keras layer of this class, or a model whose only computing layer
        is one (InputLayer and Dropout-like layers aside); for any other model use
        :func:`pyrnn.from_keras`, which converts the whole model.

        Works with Keras 3 and tf-keras 2 objects; the activations follow the
        object's Keras version. ``device``: "cpu", or "cuda" / "cuda:N" in a CUDA build.

        Raises:
            TypeError: ``obj`` is neither such a layer nor a Keras model.
            ValueError: the layer has no weights yet (build it first), the model holds no such layer,
                several, or other layers this layer alone would drop; options pyrnn cannot reproduce
                (``stateful``, mixed precision).
        """
        layer = _keras.find_layer(obj, cls.__name__)
        if not layer.weights:
            raise _keras.unbuilt_error(layer, cls.__name__)
        return cls.from_config(layer.get_config(), layer.get_weights(), keras_version=_keras.keras_major(layer),
                               device=device)

    @classmethod
    def from_config(cls: Type[_R], config: dict, weights: Sequence[np.ndarray], keras_version: int = 3,
                    **overrides: Any) -> _R:
        """Build from a Keras layer config dict (``layer.get_config()``) and its weight list in
        Keras's order (``layer.get_weights()``); ``overrides`` replace constructor arguments."""
        name = config.get("name", cls.__name__.lower())
        owner = f"{cls.__name__} {name!r}"
        _keras.check_rnn_config(config, owner)
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
            raise ValueError(f"{owner}: config says units={units} but recurrent_kernel has shape {_shape(recurrent)}")
        kwargs = dict(
            activation=_keras.activation_name(config.get("activation", "tanh"), owner),
            return_sequences=config.get("return_sequences", False),
            return_state=config.get("return_state", False),
            go_backwards=config.get("go_backwards", False),
            zero_output_for_mask=config.get("zero_output_for_mask", False),
            keras_version=keras_version,
            name=name,
        )
        if cls._GATES > 1:
            kwargs["recurrent_activation"] = _keras.activation_name(config.get("recurrent_activation", "sigmoid"), owner)
        if cls._KIND == 2:
            kwargs["reset_after"] = config.get("reset_after", True)
        kwargs.update(overrides)
        return cls(kernel, recurrent, weights[2] if use_bias else None, **kwargs)

    # -- validation -----------------------------------------------------------------

    @property
    def _owner(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    def _check_input(self, x: Any, mask: Any):
        x = _as_float_array(x, "input", self._owner)
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
        names = self._STATES
        if len(initial_state) != len(names):
            raise ValueError(
                f"{owner}: expected {len(names)} initial state(s) [{', '.join(names)}], got {len(initial_state)}"
            )
        out = []
        for nm, s in zip(names, initial_state):
            arr = _as_float_array(s, f"initial state {nm}", owner)
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

    Call it as ``layer(x, initial_state=None, mask=None)`` with ``x`` of shape ``(batch, time, input_dim)``;
    see :meth:`__call__`. Build it from Keras with :meth:`from_keras`.

    Raises:
        ValueError: weight shapes that disagree (the message gives the expected and the actual shape),
            an unknown activation.
        TypeError: non-numeric weights.
    """

    _KIND = 0
    _GATES = 1
    _STATES = ("h",)

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
    ) -> None:
        """Validates the Keras-layout weights and packs them for the native kernels (see the class
        docstring for every argument)."""
        super().__init__(
            kernel, recurrent_kernel, bias, activation=activation, recurrent_activation=None,
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            zero_output_for_mask=zero_output_for_mask, reset_after=False, keras_version=keras_version, name=name,
            device=device,
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

    Call it as ``layer(x, initial_state=None, mask=None)`` with ``x`` of shape ``(batch, time, input_dim)``;
    see :meth:`__call__`. Build it from Keras with :meth:`from_keras`.

    Raises:
        ValueError: weight shapes that disagree (the message gives the expected and the actual shape),
            an unknown activation.
        TypeError: non-numeric weights.
    """

    _KIND = 1
    _GATES = 4
    _STATES = ("h", "c")

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
    ) -> None:
        """Validates the Keras-layout weights and packs them for the native kernels (see the class
        docstring for every argument)."""
        super().__init__(
            kernel, recurrent_kernel, bias, activation=activation, recurrent_activation=recurrent_activation,
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            zero_output_for_mask=zero_output_for_mask, reset_after=False, keras_version=keras_version, name=name,
            device=device,
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

    Call it as ``layer(x, initial_state=None, mask=None)`` with ``x`` of shape ``(batch, time, input_dim)``;
    see :meth:`__call__`. Build it from Keras with :meth:`from_keras`.

    Raises:
        ValueError: weight shapes that disagree (the message gives the expected and the actual shape),
            an unknown activation.
        TypeError: non-numeric weights.
    """

    _KIND = 2
    _GATES = 3
    _STATES = ("h",)

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
    ) -> None:
        """Validates the Keras-layout weights and packs them for the native kernels (see the class
        docstring for every argument)."""
        super().__init__(
            kernel, recurrent_kernel, bias, activation=activation, recurrent_activation=recurrent_activation,
            return_sequences=return_sequences, return_state=return_state, go_backwards=go_backwards,
            zero_output_for_mask=zero_output_for_mask, reset_after=reset_after, keras_version=keras_version, name=name,
            device=device,
        )


_CELLS = {"SimpleRNN": SimpleRNN, "LSTM": LSTM, "GRU": GRU}


class Bidirectional:
    """Keras ``Bidirectional``: a forward and a backward layer merged.

    The backward output is flipped back in time when sequences are returned; with a
    mask, masked steps output zeros in that case (as Keras forces). ``merge_mode``:
    "concat", "sum", "mul", "ave" or None (two outputs). With ``return_state`` the
    result is ``[output(s)..., *forward_states, *backward_states]``.
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
        for attr in ("units", "input_dim", "return_sequences", "return_state"):
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
        if merge_mode not in _MERGE_MODES:
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
                    f"{owner}: expected {2 * n} initial states (forward {fwd._STATES} then backward "
                    f"{bwd._STATES}), got {len(initial_state)}"
                )
            sf = fwd._check_states(list(initial_state[:n]), x.shape[0], owner + " (forward)")
            sb = bwd._check_states(list(initial_state[n:]), x.shape[0], owner + " (backward)")
            h0f, h0b = sf[0], sb[0]
            if n == 2:
                c0f, c0b = sf[1], sb[1]
        merged, yf, yb, hf, cf, hb, cb = _core.run_bidirectional(
            fwd._impl, bwd._impl, _MERGE_MODES[self.merge_mode], x, mask_u8, h0f, c0f, h0b, c0b
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
    def from_keras(cls, obj: Any) -> "Bidirectional":
        """Build from a Keras ``Bidirectional`` layer, or a model holding exactly one."""
        layer = _keras.find_layer(obj, "Bidirectional")
        if not layer.weights:
            raise _keras.unbuilt_error(layer, "Bidirectional")
        version = _keras.keras_major(layer)
        halves = []
        for role in ("forward_layer", "backward_layer"):
            sub = getattr(layer, role)
            kind = type(sub).__name__
            if kind not in _CELLS:
                raise ValueError(
                    f"Bidirectional {layer.name!r}: the wrapped layer is a {kind}; "
                    "pyrnn supports SimpleRNN, LSTM and GRU"
                )
            halves.append(_CELLS[kind].from_config(sub.get_config(), sub.get_weights(), keras_version=version))
        return cls(halves[0], halves[1], merge_mode=layer.merge_mode, name=layer.name)
