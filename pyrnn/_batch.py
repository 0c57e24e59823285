"""``pyrnn.BatchPredictor``: a picklable callable for batch engines (Dask, Ray Data, Spark).

A predictor pickles as a small token plus what is needed to load the model (its path, or
the model's config and weights). Each process keeps the models it has loaded in a
module-level cache keyed by that token, so however many tasks a worker process runs, and
however often the predictor is unpickled there, the model is loaded (and its native plan
built) once per process. ``stats()`` counts loads and calls in the current process.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sys
import threading
from collections import OrderedDict
from typing import Any, Callable, Dict, List, Optional, Tuple, Union

import numpy as np

from . import _core
from ._compute import ComputeTypeLike, canonical_compute_type
from .model import Model, load

__all__ = ["BatchPredictor", "stats"]

ModelOrPath = Union[Model, str, "os.PathLike[str]"]
Recipe = Tuple[Callable[..., Model], Tuple[Any, ...]]  # what Model.__reduce__ returns

_CACHE_SIZE = 8  # models kept per process (least recently used dropped first)
_cache: OrderedDict[str, Model] = OrderedDict()
_lock = threading.Lock()
_counts = {"loads": 0, "calls": 0}


def stats() -> Dict[str, int]:
    """Counters of this process: ``loads`` (models loaded and converted by predictors),
    ``calls`` (batches predicted) and ``cached`` (models held in the per-process cache)."""
    with _lock:
        return {"loads": _counts["loads"], "calls": _counts["calls"], "cached": len(_cache)}


def _cached_model(token: str, path: Optional[str], recipe: Optional[Recipe], compute_type: str = "float32") -> Model:
    """The model for ``token``, loaded (from ``path``, in ``compute_type``) or rebuilt (from
    ``recipe``, which holds its compute type) at most once per process, under a lock, so
    threads of one worker share the load."""
    with _lock:
        model = _cache.get(token)
        if model is not None:
            _cache.move_to_end(token)
            return model
        if path is not None:
            model = load(path, compute_type=compute_type)
        else:
            assert recipe is not None
            model = recipe[0](*recipe[1])
        _counts["loads"] += 1
        _cache[token] = model
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return model


def _path_token(path: str) -> str:
    st = os.stat(path)
    return f"path:{path}:{st.st_mtime_ns}:{st.st_size}"


def _recipe_token(recipe: Recipe) -> str:
    return "model:" + hashlib.sha256(pickle.dumps(recipe, protocol=4)).hexdigest()


def _check_positive(value: Any, what: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"BatchPredictor: {what} must be a positive integer or None, got {value!r}")
    return int(value)


class BatchPredictor:
    """A picklable callable that runs a pyrnn model on batches: ``BatchPredictor(model)(x)``.

    Args:
        model_or_path: a :class:`pyrnn.Model` or the path of a ``.keras`` / ``.h5`` file.
            A path is loaded once here (to check it) and once in each process the predictor
            runs in; a model (a ``TorchModel`` too) travels as its config and weights and is
            rebuilt once per process.
        batch_size: passed to ``Model.predict`` (rows per native call; default all at once).
        num_threads: if set, the process that runs the predictor uses this many pyrnn threads
            (``pyrnn.set_num_threads``, process-wide); useful when an engine already runs one
            task per core (Dask workers, Ray tasks, Spark executors). Default: leave it.
        compute_type: for a path, the recurrent layers' arithmetic (as in :func:`pyrnn.load`;
            default "float32"). A model keeps its own; passing a different one for a model is
            a ValueError (load the file with that compute type instead).

    Accepted batches (and what comes back):

    * a numpy array, a list of arrays or a dict keyed by input name, as ``Model.predict``
      takes them: float32 arrays as ``Model.predict`` returns them (a list for several outputs);
    * a dict of columns (Ray Data's ``batch_format="numpy"``): the inputs are the columns named
      like the model's inputs, or the only column of a one-input model; returns a dict
      ``{output name: array}``;
    * a pandas DataFrame (Spark ``mapInPandas``; one-input models with a fixed input shape):
      either every column numeric, each row one sample flattened in C order (``T*F`` values
      for a ``(T, F)`` input), or one column whose cells are such arrays; returns a DataFrame
      on the same index, one float32 column per output value (``name``, or ``name_0``,
      ``name_1``, ... when an output has several values per row);
    * a pandas Series of array cells (Spark ``pandas_udf``): returns a Series, of floats
      when the (single) output has one value per row, else of 1-D float32 arrays.

    Stateful models (Keras ``stateful=True``) are refused: their results depend on the order
    in which batches arrive, which a batch engine does not keep.
    """

    def __init__(self, model_or_path: ModelOrPath, batch_size: Optional[int] = None,
                 num_threads: Optional[int] = None, compute_type: Optional[ComputeTypeLike] = None) -> None:
        self.batch_size = _check_positive(batch_size, "batch_size")
        self.num_threads = _check_positive(num_threads, "num_threads")
        ctype = None if compute_type is None else canonical_compute_type(compute_type, "BatchPredictor")
        self._path: Optional[str] = None
        self._recipe: Optional[Recipe] = None
        if isinstance(model_or_path, Model):
            if ctype is not None and ctype != model_or_path.compute_type:
                raise ValueError(f"BatchPredictor: model {model_or_path.name!r} computes in "
                                 f"{model_or_path.compute_type}, not {ctype}: pass the model file's path with "
                                 f"compute_type={ctype!r}, or a model loaded with it")
            # The model's own pickling recipe (rebuild function, config and weights; a
            # TorchModel's layout too), kept unexecuted: each process runs it once.
            self._recipe = model_or_path.__reduce__()
            self._token = _recipe_token(self._recipe)
            model = model_or_path
            with _lock:  # this process already has it: no second build here
                _cache.setdefault(self._token, model)
        elif isinstance(model_or_path, (str, os.PathLike)):
            self._path = os.path.abspath(os.fspath(model_or_path))
            if not os.path.exists(self._path):
                raise FileNotFoundError(f"BatchPredictor: no model file {self._path!r}")
            ctype = ctype or "float32"
            self._token = f"{_path_token(self._path)}:{ctype}"
            model = _cached_model(self._token, self._path, None, ctype)
        else:
            raise TypeError("BatchPredictor expects a pyrnn.Model or the path of a .keras / .h5 file, "
                            f"got {type(model_or_path).__name__}")
        #: The recurrent layers' arithmetic of the model the predictor runs.
        self.compute_type: str = model.compute_type
        if model.stateful:
            raise ValueError(f"BatchPredictor: model {model.name!r} is stateful (Keras stateful=True): each call "
                             "continues from the states the previous call left, so its results would depend on "
                             "how a batch engine splits and orders the data. Use model.predict or model.stream() "
                             "on the whole sequence instead.")
        self._describe = f"{model.name!r} ({'file ' + self._path if self._path else 'in-memory model'})"

    # -- pickling: a token plus what is needed to load the model once per process ----------

    def __reduce__(self) -> Tuple[Any, ...]:
        return (_restore, (self._token, self._path, self._recipe, self.batch_size, self.num_threads,
                           self._describe, self.compute_type))

    def __dask_tokenize__(self) -> Tuple[Any, ...]:
        """What identifies the predictor in a dask graph (hashing the weights is not needed)."""
        return ("pyrnn.BatchPredictor", self._token, self.batch_size, self.num_threads)

    @property
    def model(self) -> Model:
        """The model, from this process's cache (loaded on first use in the process)."""
        return _cached_model(self._token, self._path, self._recipe, self.compute_type)

    def __repr__(self) -> str:
        ctype = f", compute_type={self.compute_type!r}" if self.compute_type != "float32" else ""
        return (f"BatchPredictor({self._describe}, batch_size={self.batch_size}, "
                f"num_threads={self.num_threads}{ctype})")

    # -- calls ------------------------------------------------------------------------------

    def __call__(self, batch: Any) -> Any:
        """Predicts one batch; see the class docstring for the accepted types."""
        model = self.model
        if self.num_threads is not None and _core.num_threads() != self.num_threads:
            _core.set_num_threads(self.num_threads)
        with _lock:
            _counts["calls"] += 1
        pd = sys.modules.get("pandas")
        if pd is not None and isinstance(batch, pd.DataFrame):
            return self._call_frame(model, batch, pd)
        if pd is not None and isinstance(batch, pd.Series):
            return self._call_series(model, batch, pd)
        if isinstance(batch, dict):
            return self._call_columns(model, batch)
        return model.predict(batch, batch_size=self.batch_size)

    def _predict_list(self, model: Model, x: Any) -> List[np.ndarray]:
        ys = model.predict(x, batch_size=self.batch_size)
        return ys if isinstance(ys, list) else [ys]

    def _call_columns(self, model: Model, batch: Dict[str, Any]) -> Dict[str, np.ndarray]:
        names = model.input_names
        if all(n in batch for n in names):
            x: Any = {n: batch[n] for n in names}
        elif len(names) == 1 and len(batch) == 1:
            x = next(iter(batch.values()))
        else:
            raise ValueError(f"BatchPredictor: model {model.name!r} takes the column(s) {names}"
                             f"{' (or a single column)' if len(names) == 1 else ''}; got columns {list(batch)}")
        return dict(zip(model.output_names, self._predict_list(model, x)))

    def _sample_shape(self, model: Model, what: str) -> Tuple[int, ...]:
        if len(model.input_names) != 1:
            raise ValueError(f"BatchPredictor: a pandas {what} feeds one-input models; model {model.name!r} takes "
                             f"{model.input_names}: pass a dict of columns keyed by input name instead")
        shape = model._in_shapes[0][1:]
        if any(d is None for d in shape):
            raise ValueError(f"BatchPredictor: model {model.name!r} has input shape {model.input_shape} with a free "
                             f"dimension, so the flat rows of a pandas {what} cannot be reshaped; pass numpy arrays")
        return tuple(int(d) for d in shape)  # type: ignore[arg-type]

    def _rows(self, model: Model, cells: Any, what: str) -> np.ndarray:
        shape = self._sample_shape(model, what)
        try:
            flat = np.stack([np.asarray(c, dtype=np.float32).reshape(-1) for c in cells]) if len(cells) else \
                np.zeros((0, int(np.prod(shape))), np.float32)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"BatchPredictor: the cells of a pandas {what} must be numeric arrays of "
                             f"{int(np.prod(shape))} values (a {shape} sample): {exc}") from None
        return self._reshape(flat, shape, model, what)

    def _reshape(self, flat: np.ndarray, shape: Tuple[int, ...], model: Model, what: str) -> np.ndarray:
        size = int(np.prod(shape))
        if flat.ndim != 2 or flat.shape[1] != size:
            raise ValueError(f"BatchPredictor: model {model.name!r} takes samples of shape {shape}, so each row of "
                             f"the pandas {what} must hold {size} values; got {flat.shape[1]} per row")
        return np.ascontiguousarray(flat, dtype=np.float32).reshape((flat.shape[0],) + shape)

    def _call_frame(self, model: Model, frame: Any, pd: Any) -> Any:
        if frame.shape[1] == 1 and frame.dtypes.iloc[0].kind == "O":
            x = self._rows(model, frame.iloc[:, 0], "DataFrame")
        else:
            bad = [c for c, t in frame.dtypes.items() if t.kind not in "fiub"]
            if bad:
                raise TypeError(f"BatchPredictor: a DataFrame needs numeric columns (one flattened sample per row) "
                                f"or a single column of arrays; columns {bad} are not numeric")
            x = self._reshape(frame.to_numpy(dtype=np.float32), self._sample_shape(model, "DataFrame"), model,
                              "DataFrame")
        columns: Dict[str, np.ndarray] = {}
        for name, y in zip(model.output_names, self._predict_list(model, x)):
            y = y.reshape(y.shape[0], -1)
            if y.shape[1] == 1:
                columns[name] = y[:, 0]
            else:
                columns.update({f"{name}_{i}": y[:, i] for i in range(y.shape[1])})
        return pd.DataFrame(columns, index=frame.index)

    def _call_series(self, model: Model, series: Any, pd: Any) -> Any:
        if len(model.output_names) != 1:
            raise ValueError(f"BatchPredictor: a pandas Series comes back as one Series, and model {model.name!r} "
                             f"has {len(model.output_names)} outputs; pass a DataFrame to get one column per output")
        y = self._predict_list(model, self._rows(model, series, "Series"))[0]
        y = y.reshape(y.shape[0], -1)
        if y.shape[1] == 1:
            return pd.Series(y[:, 0], index=series.index, name=model.output_names[0])
        return pd.Series(list(y), index=series.index, name=model.output_names[0])


def _restore(token: str, path: Optional[str], recipe: Optional[Recipe], batch_size: Optional[int],
             num_threads: Optional[int], describe: str, compute_type: str = "float32") -> BatchPredictor:
    """Unpickles a predictor without loading its model (that happens once per process, on first use)."""
    predictor = BatchPredictor.__new__(BatchPredictor)
    predictor.compute_type = compute_type
    predictor.batch_size = batch_size
    predictor.num_threads = num_threads
    predictor._token = token
    predictor._path = path
    predictor._recipe = recipe
    predictor._describe = describe
    return predictor
