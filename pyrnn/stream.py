"""Streaming inference: run a model one timestep (or one chunk) at a time.

>>> stream = model.stream(batch_size=1)            # doctest: +SKIP
>>> for x_t in sensor:                              # doctest: +SKIP
...     y_t = stream.step(x_t)                      # (1, features) in, this step's outputs out

Every forward recurrent layer on the time axis keeps its states (and its last valid
output, which masked steps repeat) between calls, so the outputs equal those of one
call on the whole sequence. Streams share nothing with each other or with the model;
each can be driven from its own thread.
"""


from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _core
from .convert import convert_model, shape_str
from .model import check_out

__all__ = ["Stream"]


class Stream:
    """Step-by-step runner for a :class:`pyrnn.Model`; create it with ``model.stream()``.

    ``step(x_t)`` takes one timestep per sequence, shaped like the model input without
    its time axis (``(batch, features)``; ``(batch,)`` for token ids), and returns the
    model's outputs for that step. ``feed(chunk)`` takes ``(batch, steps, ...)`` and
    returns the outputs for the whole chunk (sequence outputs keep their time axis).
    ``reset(rows)`` zeroes the states of some or all rows; ``state`` gets and sets them.
    """

    def __init__(self, model: Any, batch_size: int = 1) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        converted = convert_model(model._source, mode="stream", compute_type=model.compute_type)
        inputs, outputs = converted.inputs, converted.outputs
        states = converted.states
        if not states:
            raise ValueError(
                f"model {model.name!r} has no recurrent layer reading the input's time axis, so it has "
                "nothing to stream; call predict instead"
            )
        self.model_name = model.name
        self.batch_size = int(batch_size)
        #: The model's compute type: the stream's recurrent layers compute as its predict does.
        self.compute_type: str = model.compute_type
        self._native = _core.Stream(converted.graph, len(inputs), len(outputs), [s.width for s in states],
                                    int(batch_size))
        self._state_names = [f"{s.layer}/{s.kind}" for s in states]
        self._state_widths = [s.width for s in states]
        self._in_shapes = [s.shape for s in inputs]
        self._in_timed = [s.timed for s in inputs]
        self._out_timed = [s.timed for s in outputs]
        self.input_names = converted.input_names
        self.output_names = converted.output_names
        # step()'s fast path: one float32 input of exactly one timestep's shape.
        self._step_shape = ((self.batch_size,) + tuple(inputs[0].shape[2:])
                            if len(inputs) == 1 and self._in_timed[0] and None not in inputs[0].shape[2:] else None)
        self._add_time = list(self._in_timed)
        self._drop_time = list(self._out_timed)
        # What step() returns: per output its name and shape without the time axis.
        self._step_specs = [(n, (self.batch_size,) + tuple(o.shape[2:] if o.timed else o.shape[1:]))
                            for n, o in zip(self.output_names, outputs)]
        # step(x, out=y)'s fast path: one output of a fully known shape.
        self._out_fast = (self._step_specs[0][1]
                          if len(outputs) == 1 and None not in self._step_specs[0][1] else None)
        # The native fast step (one plain float32 timestep of _step_shape; None for anything else).
        self._fast_step = None
        if self._step_shape is not None:
            fixed = [(i, d) for i, d in enumerate(self._step_shape) if d is not None]  # all known (the filter types d)
            self._native.set_fast(len(self._step_shape), fixed, self._drop_time,
                                  [d for d in self._out_fast or () if d is not None])
            self._fast_step = self._native.fast_step

    # -- running ------------------------------------------------------------------------------

    def _prepare(self, x: Any, add_time: bool) -> List[np.ndarray]:
        n = len(self._in_shapes)
        xs = list(x) if (isinstance(x, (list, tuple)) and n > 1) else [x]
        if len(xs) != n:
            raise ValueError(
                f"stream of {self.model_name!r} takes {n} inputs ({', '.join(self.input_names)}), got {len(xs)}"
            )
        out = []
        for i, a in enumerate(xs):
            if not (type(a) is np.ndarray and a.dtype == np.float32 and a.flags.c_contiguous):
                a = np.asarray(a)
                if a.dtype.kind not in "fiub":
                    raise TypeError(f"stream input {self.input_names[i]!r} must be numeric, got dtype {a.dtype}")
                a = np.ascontiguousarray(a, dtype=np.float32)
            shape = self._in_shapes[i]
            timed = self._in_timed[i]
            if timed and add_time:
                want = (self.batch_size,) + tuple(shape[2:])
                if a.shape != want and not any(d is None for d in shape[2:]):
                    raise ValueError(
                        f"stream input {self.input_names[i]!r}: step() takes one timestep of shape "
                        f"{shape_str((self.batch_size,) + shape[2:])}, got {a.shape}"
                    )
                a = a.reshape((a.shape[0], 1) + a.shape[1:])
            else:
                if a.ndim != len(shape) or a.shape[0] != self.batch_size or any(
                    d is not None and a.shape[j] != d for j, d in enumerate(shape) if j > 0 and not (timed and j == 1)
                ):
                    what = "a chunk of shape" if timed else "shape"
                    raise ValueError(
                        f"stream input {self.input_names[i]!r}: expected {what} "
                        f"{shape_str((self.batch_size,) + shape[1:])} (None: any), got {a.shape}"
                    )
                if timed and a.shape[1] < 1:
                    raise ValueError(f"stream input {self.input_names[i]!r}: the chunk has no timesteps")
            out.append(a)
        return out

    def step(self, x: Any, out: Optional[Union[np.ndarray, List[np.ndarray]]] = None
             ) -> Union[np.ndarray, List[np.ndarray]]:
        """One timestep: returns the model's outputs after it (time axis removed).

        Each call returns new arrays, which later calls leave alone. ``out``: write the
        outputs into these arrays instead and return them (one writable C-contiguous
        float32 array of shape ``(batch, ...)`` per output, a list for several): a loop
        of steps then allocates no result arrays. The arrays are checked before the
        step, so a bad one raises (TypeError / ValueError) without moving the states.
        """
        fast = self._fast_step
        if fast is not None:
            y = fast(x, out)  # None: x or out is not what it takes; nothing has moved
            if y is not None:
                return y
        if (type(x) is np.ndarray and x.shape == self._step_shape and x.dtype == np.float32
                and x.flags.c_contiguous):
            xs = [x]
        else:
            xs = [a.reshape((a.shape[0],) + a.shape[2:]) if t else a
                  for a, t in zip(self._prepare(x, add_time=True), self._in_timed)]
        if out is None:
            ys = self._native.step(xs, self._add_time, self._drop_time)
            return ys[0] if len(ys) == 1 else ys
        # The native call checks dtype and layout before the step; the shapes must be
        # right before it too, since a step moves the states.
        outs = ([out] if type(out) is np.ndarray and out.shape == self._out_fast and out.dtype == np.float32
                else check_out(out, self._step_specs, f"stream of {self.model_name!r}"))
        try:
            self._native.step(xs, self._add_time, self._drop_time, outs)
        except (TypeError, ValueError):
            # A bad out array: name its output and what was expected.
            check_out(out, self._step_specs, f"stream of {self.model_name!r}")
            raise
        return out

    def feed(self, chunk: Any) -> Union[np.ndarray, List[np.ndarray]]:
        """Several timesteps ``(batch, steps, ...)``: the outputs for the whole chunk."""
        ys = self._native.step(self._prepare(chunk, add_time=False))
        return ys[0] if len(ys) == 1 else ys

    __call__ = feed

    # -- state --------------------------------------------------------------------------------

    def reset(self, rows: Optional[Sequence[int]] = None) -> None:
        """Zeroes the states of every row, or of the given batch rows (new sequences)."""
        if rows is None:
            self._native.reset([])
            return
        rows = [int(r) for r in np.atleast_1d(np.asarray(rows))]
        if not rows:
            return
        bad = [r for r in rows if not 0 <= r < self.batch_size]
        if bad:
            raise ValueError(f"rows {bad} are outside this stream's batch of {self.batch_size}")
        self._native.reset(rows)

    @property
    def state(self) -> Dict[str, np.ndarray]:
        """Copies of the carried states, keyed "layer/h", "layer/c" and "layer/prev"
        (the last valid output), each (batch, units): for checkpoints or to move a
        stream to another process. Assign such a dict to restore them."""
        return dict(zip(self._state_names, self._native.states()))

    @state.setter
    def state(self, values: Dict[str, Any]) -> None:
        if not isinstance(values, dict):
            raise TypeError(f"state must be a dict like stream.state, got {type(values).__name__}")
        unknown = sorted(set(values) - set(self._state_names))
        missing = sorted(set(self._state_names) - set(values))
        if unknown or missing:
            raise ValueError(f"state keys do not match this stream: unknown {unknown}, missing {missing}")
        arrays = []
        for name, width in zip(self._state_names, self._state_widths):
            a = np.ascontiguousarray(values[name], dtype=np.float32)
            if a.shape != (self.batch_size, width):
                raise ValueError(f"state {name!r} must have shape {(self.batch_size, width)}, got {a.shape}")
            arrays.append(a)
        for i, a in enumerate(arrays):
            self._native.set_state(i, a)

    def __repr__(self) -> str:
        layers = sorted({n.split("/")[0] for n in self._state_names})
        ctype = f", compute_type {self.compute_type!r}" if self.compute_type != "float32" else ""
        return (f"<pyrnn.Stream of {self.model_name!r}: batch {self.batch_size}, carrying "
                f"{', '.join(layers)}{ctype}>")
