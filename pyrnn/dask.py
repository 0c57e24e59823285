"""Run a pyrnn model over a ``dask.array``: ``pyrnn.dask.predict(model_or_path, x)``.

Needs ``pip install "pyrnn[dask]"`` (dask[array] and distributed). The model travels to the
workers once, as one task of the graph holding a :class:`pyrnn.BatchPredictor`, and each
worker process loads it once (a per-process cache; ``stats()`` counts the loads, e.g.
``client.run(pyrnn.dask.stats)``). Rows are independent, so blocks along the batch axis
run anywhere, in any order, and give the same bits as one ``model.predict`` call.
"""

from __future__ import annotations

from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

try:
    import dask
    import dask.array as da
except ImportError as _exc:  # pragma: no cover - the message is the point
    raise ImportError('pyrnn.dask needs dask with its array extra: pip install "pyrnn[dask]" '
                      '(dask[array] and distributed)') from _exc

from ._batch import BatchPredictor, ModelOrPath, stats
from ._compute import ComputeTypeLike, canonical_compute_type
from .convert import shape_str
from .torch_models import batch_major_problem

__all__ = ["predict", "stats", "BatchPredictor"]


def _run_block(predictor: BatchPredictor, *blocks: np.ndarray) -> Any:
    """One block of rows through the model (on a worker)."""
    return predictor(blocks[0] if len(blocks) == 1 else list(blocks))


def _pick(outputs: List[np.ndarray], k: int) -> np.ndarray:
    return outputs[k]


def _as_dask_inputs(x: Any, names: Sequence[str]) -> List[Any]:
    if isinstance(x, da.Array):
        if len(names) != 1:
            raise TypeError(f"pyrnn.dask.predict: the model takes {len(names)} inputs ({', '.join(names)}); pass a "
                            "dict of dask arrays keyed by input name")
        return [x]
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        extra = [k for k in x if k not in names]
        if missing or extra:
            raise ValueError(f"pyrnn.dask.predict: expected dask arrays for the inputs {list(names)}; "
                             f"missing {missing}, unexpected {extra}")
        xs = [x[n] for n in names]
        bad = [n for n, a in zip(names, xs) if not isinstance(a, da.Array)]
        if bad:
            raise TypeError(f"pyrnn.dask.predict: inputs {bad} are not dask arrays "
                            "(wrap numpy arrays with dask.array.from_array)")
        return xs
    raise TypeError("pyrnn.dask.predict expects a dask.array.Array (or a dict of them keyed by input name), "
                    f"got {type(x).__name__}; for numpy arrays call model.predict")


def predict(model_or_path: Union[ModelOrPath, BatchPredictor], x: Any, batch_size: Optional[int] = None,
            num_threads: Optional[int] = None,
            compute_type: Optional[ComputeTypeLike] = None) -> Union[Any, List[Any]]:
    """Predicts a dask array lazily, block by block along the batch axis.

    Args:
        model_or_path: a :class:`pyrnn.Model`, the path of a ``.keras`` / ``.h5`` file (it must
            be readable at that path on every worker), or a :class:`pyrnn.BatchPredictor`.
        x: a ``dask.array`` of shape ``(N, T, F)`` (any shape the model's input takes), or, for
            several inputs, a dict of dask arrays keyed by input name with the same rows.
            Axes after the first are rechunked to single chunks (a sample never spans blocks);
            the row chunks are kept (those of the first input for all).
        batch_size: rows per native call inside a block (``Model.predict``'s ``batch_size``).
        num_threads: pyrnn threads in each worker process (process-wide; e.g. 1 when each
            core already runs a worker thread). Default: leave the workers' setting.
        compute_type: for a path, the recurrent layers' arithmetic (as in :func:`pyrnn.load`;
            default "float32"); a model or predictor keeps its own (a different value is a
            ValueError).

    Returns:
        A float32 dask array of the output (rows chunked like ``x``), or a list of them for
        several outputs; computing it gives the same bits as ``model.predict`` on the whole.

    Raises:
        ValueError: a stateful model, or inputs whose shapes the model does not take.
        TypeError: ``x`` is not a dask array (or a dict of them).
    """
    if isinstance(model_or_path, BatchPredictor):
        predictor = model_or_path
        if compute_type is not None and canonical_compute_type(compute_type, "pyrnn.dask.predict") \
                != predictor.compute_type:
            raise ValueError(f"pyrnn.dask.predict: the BatchPredictor computes in {predictor.compute_type}, not "
                             f"{canonical_compute_type(compute_type)}: build it with that compute_type")
    else:
        predictor = BatchPredictor(model_or_path, batch_size=batch_size, num_threads=num_threads,
                                   compute_type=compute_type)
    model = predictor.model
    problem = batch_major_problem(model)
    if problem:
        raise ValueError(f"pyrnn.dask.predict splits x along axis 0 as the batch and returns one array per output; "
                         f"{problem}: convert a batch_first=True module without return_state "
                         "(or run a pyrnn.BatchPredictor yourself)")
    xs = _as_dask_inputs(x, model.input_names)
    for name, a, shape in zip(model.input_names, xs, model._in_shapes):
        if a.ndim != len(shape) or any(d is not None and a.shape[i] != d for i, d in enumerate(shape) if i > 0):
            raise ValueError(f"pyrnn.dask.predict: model {model.name!r}: input {name!r} must have shape "
                             f"{shape_str(shape)} (None: any size), got {a.shape}")
        if any(np.isnan(s) for s in a.shape[1:]):
            raise ValueError(f"pyrnn.dask.predict: input {name!r} has unknown sizes after the batch axis "
                             f"({a.shape}); call .compute_chunk_sizes() first")
    rows = xs[0].shape[0]
    if any(a.shape[0] != rows for a in xs[1:]) and not any(np.isnan(a.shape[0]) for a in xs):
        raise ValueError(f"pyrnn.dask.predict: inputs have different numbers of rows "
                         f"({', '.join(f'{n}: {a.shape[0]}' for n, a in zip(model.input_names, xs))})")
    row_chunks = xs[0].chunks[0]
    xs = [a.rechunk({0: row_chunks, **{i: -1 for i in range(1, a.ndim)}}) for a in xs]

    # The outputs' shapes after the batch axis: one row of zeros through the model, here.
    probe = [np.zeros((1,) + tuple(int(s) for s in a.shape[1:]), dtype=a.dtype) for a in xs]
    ys = _as_list(model.predict(probe[0] if len(probe) == 1 else probe))
    out_shapes: List[Tuple[int, ...]] = [y.shape[1:] for y in ys]

    pred = dask.delayed(predictor, pure=True)
    args: List[Any] = [pred, None]
    for i, a in enumerate(xs):
        args += [a, ("b",) + tuple(f"x{i}_{j}" for j in range(1, a.ndim))]
    name = "pyrnn-predict"

    def output(k: int, source_args: List[Any], func: Any) -> Any:
        dims = tuple(f"y{k}_{j}" for j in range(len(out_shapes[k])))
        return da.blockwise(func, ("b",) + dims, *source_args, new_axes=dict(zip(dims, out_shapes[k])),
                            concatenate=True, dtype=np.float32, meta=np.empty((0,) * (1 + len(dims)), np.float32),
                            token=f"{name}-{k}" if len(out_shapes) > 1 else name)

    if len(out_shapes) == 1:
        return output(0, args, _run_block)
    # Several outputs: one task per block runs the model (its value is the list of outputs),
    # and each output picks its array from it, so the model runs once per block.
    both = da.blockwise(_run_block, ("b",), *args, concatenate=True, dtype=np.float32,
                        meta=np.empty((0,), np.float32), token=f"{name}-all")
    return [output(k, [both, ("b",), k, None], _pick) for k in range(len(out_shapes))]


def _as_list(y: Any) -> List[np.ndarray]:
    return y if isinstance(y, list) else [y]

