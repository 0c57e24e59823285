"""Whole Keras models: ``pyrnn.load(path)``, ``pyrnn.from_keras(model)`` and ``Model``.

A model is converted once into a native plan (``pyrnn.convert``); ``predict`` then
validates the inputs and runs the entire model in one call into C++ with the GIL
released, so several threads can share one model. ``compute_type`` (pyrnn/_compute.py)
picks the arithmetic of the recurrent layers; every other layer computes in float32.
"""


import os
import sys
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _core, keras_objects
from ._compute import ComputeTypeError, ComputeTypeLike, canonical_compute_type
from ._progress import Progress
from .convert import ConvertedModel, LayerRow, Shape, convert_model, shape_str
from .errors import ModelFormatError, UnsupportedLayerError
from .keras_files import ModelSource, read_model_file

if TYPE_CHECKING:
    from .profile import Profile
    from .stream import Stream

__all__ = ["Model", "load", "from_keras"]

ArrayOrList = Union[np.ndarray, List[np.ndarray]]


class Model:
    """A Keras model converted to pyrnn's native plan. Build it with :func:`pyrnn.load`
    or :func:`pyrnn.from_keras`.

    ``predict(x)`` (or ``model(x)``) takes numpy arrays (a list, or a dict keyed by
    input name, for several inputs) and returns float32 arrays (a list for several
    outputs), matching Keras to float32 rounding (with the default ``compute_type``).

    ``compute_type``: the arithmetic of the recurrent layers (SimpleRNN, LSTM, GRU, also
    inside Bidirectional and TimeDistributed), as a canonical name: "float32" (the
    default, Keras-exact), "bfloat16", "float16" or "int8". Other layers compute in float32.
    """

    def __init__(self, source: ModelSource, compute_type: ComputeTypeLike = "float32") -> None:
        ctype = canonical_compute_type(compute_type)
        converted = _convert_guarded(source, ctype)
        #: The recurrent layers' arithmetic (canonical name); streams and pickles keep it.
        self.compute_type: str = ctype
        inputs, outputs = converted.inputs, converted.outputs
        self._source = source
        self._graph = converted.graph
        # Keras stateful layers: their states live in a native stream between calls.
        self._state_names = [f"{st.layer}/{st.kind}" for st in converted.states]
        self._state_widths = [st.width for st in converted.states]
        self._stateful: Optional[Any] = None
        self._stateful_batch = inputs[0].shape[0] if converted.states else None
        self._n_out = len(outputs)
        self.name: str = str((source.config.get("config") or {}).get("name") or "model")
        self.source: str = source.name
        self.format: str = source.fmt
        self.keras_version: str = source.keras_version
        self._in_shapes: List[Shape] = [s.shape for s in inputs]
        self._out_shapes: List[Shape] = [s.shape for s in outputs]
        self.input_names: List[str] = converted.input_names
        self.output_names: List[str] = converted.output_names
        self._rows: List[LayerRow] = converted.rows
        self._num_ops: int = converted.graph.num_ops
        self._ops = converted.ops
        self._id_ranges = {i: converted.id_inputs[s.slot] for i, s in enumerate(inputs)
                           if s.slot in converted.id_inputs}
        self._check_dims = [tuple((i, d) for i, d in enumerate(s) if i > 0 and d is not None) for s in self._in_shapes]
        self._fast = (len(self._in_shapes[0]), self._check_dims[0]) if len(self._in_shapes) == 1 else None
        # predict's native fast entry: one input, no stateful layers. It takes a plain float32
        # C-contiguous array of the input's rank and sizes and returns None for anything else.
        self._fast_run = (_core.FastRun(self._graph, self._fast[0], list(self._fast[1]))
                          if self._fast is not None and not self._state_names else None)

    # -- pickling (multiprocessing workers) ------------------------------------------------

    def __reduce__(self):
        """Pickles the config and weights; the native plan is rebuilt on unpickling
        (stateful models keep their current states)."""
        states = self.states if (self._state_names and self._stateful is not None) else None
        return (_rebuild, (self._source, states, self.compute_type))

    # -- shapes and structure -----------------------------------------------------------

    @property
    def input_shape(self) -> Union[Shape, List[Shape]]:
        """Keras-style input shape(s); None marks the batch and any free dimension."""
        return self._in_shapes[0] if len(self._in_shapes) == 1 else list(self._in_shapes)

    @property
    def output_shape(self) -> Union[Shape, List[Shape]]:
        return self._out_shapes[0] if len(self._out_shapes) == 1 else list(self._out_shapes)

    @property
    def layers(self) -> List[LayerRow]:
        """The top-level layers in execution order (name, class, output shapes, params)."""
        return list(self._rows)

    def count_params(self) -> int:
        """Total number of weights, as Keras's ``model.count_params()``."""
        return sum(r.params for r in self._rows)

    def summary(self, print_fn: Any = None, line_length: int = 90) -> None:
        """Prints the layers, their output shapes and parameter counts, as Keras does."""
        out = print_fn or print
        w1, w2 = int(line_length * 0.45), int(line_length * 0.38)
        rule = "_" * line_length
        out(f'Model: "{self.name}"  ({self._origin()})')
        out(f"Compute type: {self._compute_text()}")
        out(rule)
        out(f"{'Layer (type)':<{w1}}{'Output Shape':<{w2}}{'Param #':>{line_length - w1 - w2}}")
        out("=" * line_length)
        for i, r in enumerate(self._rows):
            shapes = ", ".join(shape_str(s) for s in r.output_shapes)
            if len(r.output_shapes) > 1:
                shapes = "[" + shapes + "]"
            label = f"{r.name} ({r.cls})"
            out(f"{label:<{w1}}{shapes:<{w2}}{r.params:>{line_length - w1 - w2},}")
            if i + 1 < len(self._rows):
                out("")
        out("=" * line_length)
        out(f"Total params: {self.count_params():,}")
        out(f"Inputs: {', '.join(f'{n} {shape_str(s)}' for n, s in zip(self.input_names, self._in_shapes))}")
        out(f"Outputs: {', '.join(f'{n} {shape_str(s)}' for n, s in zip(self.output_names, self._out_shapes))}")
        out(rule)

    def _compute_text(self) -> str:
        """The compute type in words, for ``summary``."""
        if self.compute_type == "float32":
            return "float32 (Keras-exact)"
        return f"{self.compute_type} (recurrent layers; every other layer float32)"

    def _origin(self) -> str:
        """Where the model came from, for ``summary`` and ``repr``."""
        return f"from {self.source}, Keras {self.keras_version}"

    def __repr__(self) -> str:
        ins = ", ".join(shape_str(s) for s in self._in_shapes)
        outs = ", ".join(shape_str(s) for s in self._out_shapes)
        return (f"<pyrnn.Model {self.name!r}: {len(self._rows)} layers, {self.count_params():,} params, "
                f"inputs {ins} -> outputs {outs}, compute_type {self.compute_type!r}; {self._origin()}>")

    # -- inference ------------------------------------------------------------------------

    def _inputs(self, x: Any) -> List[np.ndarray]:
        if (type(x) is np.ndarray and self._fast is not None and x.dtype == np.float32 and x.ndim == self._fast[0]
                and x.flags.c_contiguous and all(x.shape[i] == d for i, d in self._fast[1])):
            return [x]  # the common case: one float32 input of the right shape
        n = len(self._in_shapes)
        if isinstance(x, dict):
            missing = [k for k in self.input_names if k not in x]
            if missing:
                raise ValueError(f"model {self.name!r}: missing input(s) {missing}; expected {self.input_names}")
            xs = [x[k] for k in self.input_names]
        elif isinstance(x, (list, tuple)) and n > 1:
            xs = list(x)
        elif n == 1 and isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray):
            xs = [x[0]]
        else:
            xs = [x]
        if len(xs) != n:
            raise ValueError(f"model {self.name!r} takes {n} inputs ({', '.join(self.input_names)}), got {len(xs)}")
        out = []
        batch = None
        for i, a in enumerate(xs):
            if not isinstance(a, np.ndarray) or a.dtype != np.float32 or not a.flags.c_contiguous:
                try:
                    a = np.asarray(a)
                except Exception as exc:
                    raise TypeError(
                        f"model {self.name!r}: input {self.input_names[i]!r} is not an array ({exc})"
                    ) from None
                if a.dtype.kind not in "fiub":
                    raise TypeError(
                        f"model {self.name!r}: input {self.input_names[i]!r} must be numeric, got dtype {a.dtype}"
                    )
                a = np.ascontiguousarray(a, dtype=np.float32)
            shape = self._in_shapes[i]
            if a.ndim != len(shape) or any(a.shape[j] != d for j, d in self._check_dims[i]):
                raise ValueError(
                    f"model {self.name!r}: input {self.input_names[i]!r} must have shape {shape_str(shape)} "
                    f"(None: any size), got {a.shape}{_batch_hint(a.shape, shape)}"
                )
            if batch is None:
                batch = a.shape[0]
            elif a.shape[0] != batch:
                raise ValueError(f"model {self.name!r}: inputs have different batch sizes ({batch} and {a.shape[0]})")
            out.append(a)
        return out

    def _run(self, xs: List[np.ndarray]) -> List[np.ndarray]:
        if not self._state_names:
            return self._graph.run(xs)
        B = xs[0].shape[0]
        if self._stateful is None:
            if self._stateful_batch is not None and B != self._stateful_batch:
                raise ValueError(f"model {self.name!r} has stateful layers built for batch size "
                                 f"{self._stateful_batch}; got a batch of {B}")
            self._stateful = self._state_stream(B)
        elif B != self._stateful.batch:
            raise ValueError(f"model {self.name!r} has stateful layers holding {self._stateful.batch} rows of state; "
                             f"got a batch of {B} (call reset_states() first to change it)")
        return self._stateful.step(xs)

    # -- state (Keras stateful layers) -------------------------------------------------------

    def _state_stream(self, batch: int) -> Any:
        return _core.Stream(self._graph, len(self._in_shapes), self._n_out, self._state_widths, batch)

    @property
    def stateful(self) -> bool:
        """True when the model has Keras ``stateful=True`` layers: each predict call
        continues from the states the previous call left, per batch row."""
        return bool(self._state_names)

    def reset_states(self, layer: Optional[str] = None) -> None:
        """Zeroes the states of every stateful layer, or of the layer named ``layer``."""
        if layer is not None and not any(n.split("/")[0] == layer for n in self._state_names):
            stateful = sorted({n.split("/")[0] for n in self._state_names})
            raise ValueError(f"model {self.name!r} has no stateful layer {layer!r}; stateful layers: {stateful}")
        if self._stateful is None:
            return
        if layer is None:
            if self._stateful_batch is None:  # no fixed batch: the next call may start a new size
                self._stateful = None
            else:
                self._stateful.reset([])
            return
        states = self._stateful.states()
        for i, n in enumerate(self._state_names):
            if n.split("/")[0] == layer:
                self._stateful.set_state(i, np.zeros_like(states[i]))

    @property
    def states(self) -> Dict[str, np.ndarray]:
        """The stateful layers' current states ("layer/h", "layer/c"), as copies."""
        if self._stateful is None:
            B = self._stateful_batch or 0
            return {n: np.zeros((B, w), np.float32) for n, w in zip(self._state_names, self._state_widths)}
        return dict(zip(self._state_names, self._stateful.states()))

    def stream(self, batch_size: int = 1) -> "Stream":
        """A step-by-step runner with its own recurrent states (see :class:`pyrnn.Stream`).
        Every forward recurrent layer on the input's time axis carries its state, so
        feeding a sequence in pieces gives the outputs of one call on the whole sequence.
        Raises :class:`pyrnn.StreamError` naming a layer that needs the whole sequence."""
        from .stream import Stream

        return Stream(self, batch_size)

    def predict(self, x: Any, batch_size: Optional[int] = None, verbose: int = 0,
                out: Optional[ArrayOrList] = None) -> ArrayOrList:
        """Runs the model. ``x``: an array, or a list / dict (by input name) of arrays.

        ``batch_size`` splits large inputs into chunks (default: all rows at once);
        results are identical to a single call because rows never interact.
        ``verbose=1`` reports progress on stderr: a ``tqdm.auto`` bar when tqdm is
        installed (a widget in notebooks), else a built-in bar on a terminal, and
        plain lines (no ``\\r`` redraws) when stderr is not a terminal.
        ``out``: write the outputs into these arrays instead of new ones, and return
        them (one writable C-contiguous float32 array of the output's shape; a list
        of them, in output order, for several outputs). The values are identical to
        those ``predict(x)`` returns; calls in a loop then allocate no result arrays.
        """
        fast = self._fast_run
        if fast is not None and batch_size is None and not verbose:
            y = fast(x, out)  # None: not a plain float32 array of the input's shape (or a bad out)
            if y is not None:
                return y
        xs = self._inputs(x)
        B = xs[0].shape[0]
        if batch_size is None and not verbose and not self._state_names:
            if out is None:
                ys = self._graph.run(xs)
                return ys[0] if len(ys) == 1 else ys
            # The native call checks the out arrays (dtype, layout: before the run; shapes,
            # which may depend on the input's length: after it, before writing anything).
            try:
                self._graph.run(xs, [out] if type(out) is np.ndarray and self._n_out == 1
                                else check_out(out, self._out_specs(B), f"model {self.name!r}"))
            except (TypeError, ValueError):
                # A bad out array: name its output and what was expected.
                check_out(out, self._out_specs(B), f"model {self.name!r}")
                raise
            return out
        outs = None if out is None else check_out(out, self._out_specs(B), f"model {self.name!r}")
        if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer))
                                       or batch_size < 1):
            raise ValueError(f"batch_size must be a positive integer or None, got {batch_size!r}")
        if self._state_names and batch_size is not None and batch_size < B:
            raise ValueError(f"model {self.name!r} is stateful: its rows carry state, so predict cannot split the "
                             f"batch of {B} into chunks of {batch_size}")
        progress = Progress(B) if verbose else None
        if batch_size is None or batch_size >= B:
            ys = self._run(xs)
            if progress is not None:
                progress.update(B)
        else:
            parts: List[List[np.ndarray]] = []
            for b0 in range(0, B, batch_size):
                parts.append(self._run([a[b0:b0 + batch_size] for a in xs]))
                if progress is not None:
                    progress.update(min(B, b0 + batch_size))
            ys = [np.concatenate([p[i] for p in parts], axis=0) for i in range(len(parts[0]))]
        if progress is not None:
            progress.close()
        if outs is not None:
            for o, y, name in zip(outs, ys, self.output_names):
                if o.shape != y.shape:
                    raise ValueError(f"model {self.name!r}: out array for output {name!r} must have shape "
                                     f"{y.shape}, got {o.shape}")
            for o, y in zip(outs, ys):
                o[...] = y
            return out  # type: ignore[return-value]
        return ys[0] if len(ys) == 1 else ys

    def profile(self, x: Any, repeats: int = 10, warmup: int = 1) -> "Profile":
        """Times every layer of the model on ``x``: ``warmup`` untimed runs, then
        ``repeats`` runs in which the native plan times each op. Returns a
        :class:`pyrnn.Profile` (``print(profile)`` shows a table, slowest layer first;
        ``profile.rows`` and ``profile.to_dict()`` give the numbers).

        The timings belong to this call: other threads' ``predict`` calls on the same
        model run untimed and at full speed meanwhile. A stateful model is profiled
        from zero states and its own states are left as they were.
        """
        from .profile import Profile

        for name, value, least in (("repeats", repeats, 1), ("warmup", warmup, 0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
            if value < least:
                raise ValueError(f"{name} must be at least {least}, got {value}")
        xs = self._inputs(x)
        B = xs[0].shape[0]
        states = [np.zeros((B, w), np.float32) for w in self._state_widths]
        per_op, wall = self._graph.profile(xs + states, int(repeats), int(warmup))
        return Profile.from_timings(self.name, B, int(warmup), self._ops, per_op, wall, self.compute_type)

    def _out_specs(self, batch: int) -> List[Tuple[str, Shape]]:
        return [(n, (batch,) + tuple(s[1:])) for n, s in zip(self.output_names, self._out_shapes)]

    def __call__(self, x: Any) -> ArrayOrList:
        """Same as ``predict(x)``."""
        return self.predict(x)


def check_out(out: Any, specs: List[Tuple[str, Shape]], who: str) -> List[np.ndarray]:
    """The ``out=`` arrays as a list, one per output, checked against ``specs`` (output
    name, shape with None for a size known only after the run): TypeError for a non-array
    or a dtype other than float32, ValueError for a wrong count, shape, layout or a
    read-only array, each naming the output and what was expected."""
    if len(specs) == 1 and isinstance(out, np.ndarray):
        outs = [out]
    elif isinstance(out, (list, tuple)):
        outs = list(out)
    else:
        raise TypeError(f"{who}: out must be a numpy array{' or a list of them' if len(specs) == 1 else ''}"
                        f"{', one per output' if len(specs) > 1 else ''}, got {type(out).__name__}")
    if len(outs) != len(specs):
        raise ValueError(f"{who}: out takes {len(specs)} array(s), one per output "
                         f"({', '.join(n for n, _ in specs)}), got {len(outs)}")
    for a, (name, shape) in zip(outs, specs):
        what = f"{who}: out array for output {name!r}"
        if not isinstance(a, np.ndarray):
            raise TypeError(f"{what} must be a numpy array, got {type(a).__name__}")
        if a.dtype != np.float32:
            raise TypeError(f"{what} must have dtype float32, got {a.dtype}")
        if a.ndim != len(shape) or any(d is not None and g != d for g, d in zip(a.shape, shape)):
            raise ValueError(f"{what} must have shape {shape_str(shape).replace('None', '?')}, got {a.shape}")
        if not a.flags.c_contiguous:
            raise ValueError(f"{what} must be C-contiguous (np.ascontiguousarray or np.empty)")
        if not a.flags.writeable:
            raise ValueError(f"{what} is read-only")
    return outs


def _batch_hint(got: Tuple[int, ...], shape: Shape) -> str:
    """A hint when an input is one sample without the batch axis in front."""
    if len(got) + 1 == len(shape) and all(d is None or g == d for g, d in zip(got, shape[1:])):
        return f"; the batch axis is missing: for one sample pass x[None] (shape {(1,) + tuple(got)})"
    return ""


def _convert_guarded(source: ModelSource, compute_type: str = "float32") -> ConvertedModel:
    """Runs the conversion of an untrusted config: whatever a malformed config makes
    the converter trip over becomes a ModelFormatError naming the file (a compute type
    that cannot hold the weights stays a ComputeTypeError, a ValueError)."""
    fname = source.name
    try:
        return convert_model(source, compute_type=compute_type)
    except ComputeTypeError:
        raise
    except ModelFormatError as exc:
        if str(exc).startswith(fname):
            raise
        if isinstance(exc, UnsupportedLayerError):
            raise UnsupportedLayerError(f"{fname}: {exc}", exc.problems) from None
        raise ModelFormatError(f"{fname}: {exc}") from None
    except (KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError, ZeroDivisionError,
            RecursionError, UnicodeDecodeError) as exc:
        raise ModelFormatError(f"{fname}: malformed model config ({type(exc).__name__}: {exc})") from None


def _rebuild(source: ModelSource, states: Optional[Dict[str, np.ndarray]], compute_type: str = "float32") -> Model:
    model = Model(source, compute_type)
    if states:
        B = next(iter(states.values())).shape[0]
        model._stateful = model._state_stream(B)
        for i, name in enumerate(model._state_names):
            model._stateful.set_state(i, np.ascontiguousarray(states[name], dtype=np.float32))
    return model


def load(path: Union[str, os.PathLike[str]], timeout: Optional[float] = None,
         compute_type: ComputeTypeLike = "float32") -> Model:
    """Loads a Keras model file and converts it to a native plan.

    Args:
        path: a ``.keras`` file (Keras 3, or tf-keras's writer) or a legacy ``.h5`` file
            (Keras 3 or tf-keras 2); the format is told by content, not by name. Only json,
            zipfile and h5py are used: TensorFlow is never imported.
        timeout: CPU seconds the file's reader may use (default: ``PYRNN_LOAD_TIMEOUT`` if set,
            else 30 s plus 1 s per MB of file and config; ``float("inf")`` for no limit). The
            file is read in a helper process so that a corrupt HDF5 structure that makes
            libhdf5 loop can be stopped; ``PYRNN_LOAD_IN_PROCESS=1`` reads in this process.
        compute_type: the arithmetic of the recurrent layers: "float32" (default, Keras-exact),
            "bfloat16" or "float16" (recurrent and wide input kernels rounded once, float32 arithmetic), "int8"
            (int8 weights per column, inputs quantized per row on the fly); also "bf16",
            "fp16", "half", "fp32", any case, or ``np.float16``. Dense, Conv1D, Embedding and
            the other layers compute in float32 whatever is chosen.

    Returns:
        A :class:`Model`; ``model.predict(x)`` runs it.

    Raises:
        FileNotFoundError: no such file.
        TypeError: ``path`` is a live Keras model (use :func:`pyrnn.from_keras`) or not a path.
        ModelFormatError: a file pyrnn cannot read (corrupt, truncated, not a Keras model,
            missing or mismatched weights); the message names the file and the layer.
        LoadTimeoutError: the reader exceeded ``timeout`` (a ``ModelFormatError``).
        UnsupportedLayerError: the model uses layers or options pyrnn cannot run; lists all.
        ValueError: an unknown ``compute_type``, or "float16" for a model with a recurrent
            weight beyond float16's range (the message names the layer).
    """
    ctype = canonical_compute_type(compute_type, "pyrnn.load")
    if not isinstance(path, (str, bytes, os.PathLike)):
        if hasattr(path, "to_json") and hasattr(path, "layers"):
            raise TypeError(f"pyrnn.load reads a model file (.keras or .h5); got a live Keras "
                            f"{type(path).__name__} object: convert it with pyrnn.from_keras(model)")
        raise TypeError(f"pyrnn.load expects the path of a .keras or .h5 file, got {type(path).__name__}")
    return Model(read_model_file(path, timeout=timeout), ctype)


def from_keras(model: Any, compute_type: ComputeTypeLike = "float32") -> Model:
    """Converts a live Keras 3 or tf-keras 2 model (Sequential or Functional) without saving
    it; the weights are copied. Supports the same layers as :func:`load`; ``compute_type``
    as in :func:`load`.

    Raises:
        TypeError: ``model`` is a file path (use :func:`pyrnn.load`) or not a Keras model.
        UnsupportedLayerError: the model uses layers or options pyrnn cannot run; lists all.
        ValueError: an unknown ``compute_type``, or float16 and a weight beyond its range.
    """
    ctype = canonical_compute_type(compute_type, "pyrnn.from_keras")
    if isinstance(model, (str, bytes, os.PathLike)):
        raise TypeError(f"pyrnn.from_keras converts a live Keras model object; got the path {os.fsdecode(model)!r}: "
                        "read a model file with pyrnn.load(path)")
    if not hasattr(model, "to_json") or not hasattr(model, "layers"):
        raise TypeError(f"expected a Keras Sequential or Functional model, got {type(model).__name__}")
    import json

    config = json.loads(model.to_json())
    major = keras_objects.keras_major(model)
    weights: Dict[str, List[Tuple[str, np.ndarray]]] = {}
    for layer in model.layers:
        variables = list(layer.weights)
        values = layer.get_weights()
        if len(variables) != len(values):
            raise ModelFormatError(f"layer {layer.name!r}: weights and values disagree")
        weights[layer.name] = [
            (str(getattr(v, "path", None) or v.name), np.asarray(val, dtype=np.float32))
            for v, val in zip(variables, values)
        ]
    version = str(major) if major == 2 else str(getattr(sys.modules.get("keras"), "__version__", "3"))
    return Model(ModelSource(f"Keras model {model.name!r}", config, version, weights, "object"), ctype)
