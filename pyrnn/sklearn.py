"""Pre-trained pyrnn models as scikit-learn estimators: ``RNNClassifier`` and ``RNNRegressor``.

Needs scikit-learn (``pip install "pyrnn[sklearn]"``). The estimators wrap a model trained in
Keras, so they are ready to predict as soon as they are built (``check_is_fitted`` passes
without ``fit``). ``fit(X, y)`` trains nothing: it checks that ``X`` (and ``y``) fit the model
and returns the estimator, so a ``Pipeline`` whose earlier steps are fitted by ``fit`` (a
``StandardScaler``, say) can end in one. Sequences come as ``(N, T, F)`` arrays, or as 2-D
``(N, T*F)`` tables (each row one sequence, time-major: the ``F`` features of step 0, then of
step 1, ...) that are reshaped using the model's time axis or ``timesteps``.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Tuple

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
except ImportError as _exc:  # pragma: no cover - the message is the point
    raise ImportError('pyrnn.sklearn needs scikit-learn: pip install "pyrnn[sklearn]"') from _exc

from ._compute import canonical_compute_type
from .convert import shape_str
from .model import Model, load
from .torch_models import batch_major_problem

__all__ = ["RNNClassifier", "RNNRegressor"]


class _RNNEstimator(BaseEstimator):
    """What the classifier and the regressor share: the model, input reshaping, ``fit``."""

    def __init__(self, model_or_path: Any, timesteps: Optional[int] = None, compute_type: Any = None) -> None:
        # scikit-learn convention: parameters stored unmodified, checked when used.
        self.model_or_path = model_or_path
        self.timesteps = timesteps
        self.compute_type = compute_type

    # -- the model (loaded once per estimator and process; not pickled twice) ---------------

    def _model(self) -> Model:
        src = self.model_or_path
        cached = self.__dict__.get("_pyrnn_model")
        if cached is not None and cached[0] is src and cached[1] == self.compute_type:
            return cached[2]
        ctype = None if self.compute_type is None else canonical_compute_type(self.compute_type, type(self).__name__)
        if isinstance(src, Model):
            model = src
            if ctype is not None and ctype != model.compute_type:
                raise ValueError(f"{type(self).__name__}: model {model.name!r} computes in {model.compute_type}, not "
                                 f"{ctype}: pass the model file's path with compute_type={ctype!r}, or a model "
                                 "loaded with it")
        elif isinstance(src, (str, os.PathLike)):
            model = load(src, compute_type=ctype or "float32")
        else:
            raise TypeError(f"{type(self).__name__}: model_or_path must be a pyrnn.Model or the path of a .keras / "
                            f".h5 file, got {type(src).__name__}")
        if len(model.input_names) != 1 or len(model.output_names) != 1:
            raise ValueError(f"{type(self).__name__}: model {model.name!r} has {len(model.input_names)} input(s) and "
                             f"{len(model.output_names)} output(s); a scikit-learn estimator wraps one-input, "
                             "one-output models")
        problem = batch_major_problem(model)  # a pyrnn.TorchModel takes torch's layouts
        if problem:
            raise ValueError(f"{type(self).__name__}: {problem}; scikit-learn estimators need (samples, timesteps, "
                             "features) input and one output array: convert a batch_first=True module without "
                             "return_state")
        if model.stateful:
            raise ValueError(f"{type(self).__name__}: model {model.name!r} is stateful (Keras stateful=True): its "
                             "predictions depend on earlier calls, which scikit-learn does not expect")
        self.__dict__["_pyrnn_model"] = (src, self.compute_type, model)
        return model

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_pyrnn_model", None)  # model_or_path pickles the model (or its path) already
        return state

    def __sklearn_is_fitted__(self) -> bool:
        """Always True: the model was trained in Keras."""
        return True

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.requires_fit = False
        tags.input_tags.three_d_array = True
        return tags

    def _sample_shape(self) -> Tuple[Optional[int], Optional[int]]:
        """(T, F) of one sequence: the model's, with ``timesteps`` filling a free time axis."""
        model = self._model()
        shape = model._in_shapes[0]
        if len(shape) != 3:
            raise ValueError(f"{type(self).__name__}: model {model.name!r} takes input of shape {shape_str(shape)}; "
                             "these estimators wrap sequence models with (batch, timesteps, features) input")
        t, f = shape[1], shape[2]
        if self.timesteps is not None:
            if isinstance(self.timesteps, bool) or not isinstance(self.timesteps, (int, np.integer)) \
                    or self.timesteps < 1:
                raise ValueError(f"{type(self).__name__}: timesteps must be a positive integer or None, "
                                 f"got {self.timesteps!r}")
            if t is not None and t != self.timesteps:
                raise ValueError(f"{type(self).__name__}: timesteps={self.timesteps}, but model {model.name!r} "
                                 f"takes exactly {t} timesteps")
            t = int(self.timesteps)
        return t, f

    @property
    def n_features_in_(self) -> int:
        """Columns of the 2-D ``(N, T*F)`` form of the input (``T*F``)."""
        t, f = self._sample_shape()
        if t is None or f is None:
            raise AttributeError(f"{type(self).__name__}: n_features_in_ is unknown because the model's time axis "
                                 "is free; pass timesteps=")
        return t * f

    def _as_sequences(self, X: Any) -> np.ndarray:
        """X as the model's (N, T, F) float32 input, reshaping a 2-D (N, T*F) table."""
        if hasattr(X, "to_numpy"):  # a pandas DataFrame
            X = X.to_numpy()
        elif hasattr(X, "toarray") and hasattr(X, "nnz"):
            raise TypeError(f"{type(self).__name__}: sparse input is not supported (got {type(X).__name__}); "
                            "pass a dense array (X.toarray())")
        try:
            X = np.asarray(X, dtype=np.float32)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{type(self).__name__}: X must be a numeric array ({exc})") from None
        t, f = self._sample_shape()
        if X.ndim == 3:
            return X
        if X.ndim != 2:
            raise ValueError(f"{type(self).__name__}: X must be 3-D (samples, timesteps, features) or 2-D "
                             f"(samples, timesteps*features), got shape {X.shape}")
        if f is None:
            raise ValueError(f"{type(self).__name__}: the model's feature axis is free, so 2-D X cannot be reshaped; "
                             "pass 3-D (samples, timesteps, features) arrays")
        if t is None:
            if X.shape[1] % f:
                raise ValueError(f"{type(self).__name__}: 2-D X needs a multiple of {f} columns (timesteps*features, "
                                 f"{f} features), got {X.shape[1]}")
            t = X.shape[1] // f
        if X.shape[1] != t * f:
            raise ValueError(f"{type(self).__name__}: 2-D X must have timesteps*features = {t}*{f} = {t * f} "
                             f"columns, got {X.shape[1]}")
        return np.ascontiguousarray(X).reshape(X.shape[0], t, f)

    def _outputs(self, X: Any) -> np.ndarray:
        y = self._model().predict(self._as_sequences(X))
        assert isinstance(y, np.ndarray)  # one output (checked in _model)
        return y

    def fit(self, X: Any, y: Any = None) -> Any:
        """Trains nothing (the model is pre-trained): checks that ``X`` has a shape the model
        takes (and ``y`` one label per sample) and returns the estimator, so the estimator can
        end a ``Pipeline`` whose other steps ``fit`` trains."""
        x = self._as_sequences(X)
        model = self._model()
        shape = model._in_shapes[0]
        if any(d is not None and x.shape[i] != d for i, d in enumerate(shape) if i > 0):
            raise ValueError(f"{type(self).__name__}: model {model.name!r} takes sequences of shape "
                             f"{shape_str(shape)}, got X of shape {x.shape}")
        if y is not None and len(y) != len(x):
            raise ValueError(f"{type(self).__name__}: X has {len(x)} samples but y has {len(y)}")
        self._check_targets(y)
        return self

    def _check_targets(self, y: Any) -> None:
        pass


class RNNClassifier(ClassifierMixin, _RNNEstimator):
    """A pre-trained Keras sequence classifier as a scikit-learn classifier.

    Args:
        model_or_path: a :class:`pyrnn.Model` or the path of a ``.keras`` / ``.h5`` file, with one
            input ``(batch, T, F)`` and one output of class probabilities: ``(batch, C)`` from a
            softmax over ``C >= 2`` classes, or ``(batch, 1)`` from a sigmoid (binary).
        timesteps: ``T`` for reshaping 2-D ``(N, T*F)`` input when the model's time axis is free.
        classes: the label of each output unit (default ``0 .. C-1``; ``[0, 1]`` for a sigmoid).
        compute_type: for a path, the recurrent layers' arithmetic (as in :func:`pyrnn.load`;
            None: "float32"); a model keeps its own (a different value is a ValueError).

    ``predict_proba`` returns the model's probabilities (two columns for a sigmoid), ``predict``
    the label of the largest, ``score`` the accuracy. ``fit`` trains nothing (see the module).
    """

    def __init__(self, model_or_path: Any, timesteps: Optional[int] = None, classes: Any = None,
                 compute_type: Any = None) -> None:
        super().__init__(model_or_path, timesteps, compute_type)
        self.classes = classes

    @property
    def classes_(self) -> np.ndarray:
        """The class labels, in the order of ``predict_proba``'s columns."""
        model = self._model()
        out = model._out_shapes[0]
        if len(out) != 2 or out[1] is None:
            raise ValueError(f"RNNClassifier: model {model.name!r} has output shape {shape_str(out)}; a classifier "
                             "needs (batch, classes) probabilities")
        n = 2 if out[1] == 1 else int(out[1])
        if self.classes is None:
            return np.arange(n)
        classes = np.asarray(self.classes)
        if classes.ndim != 1 or len(classes) != n:
            raise ValueError(f"RNNClassifier: model {model.name!r} gives probabilities for {n} classes, but classes "
                             f"has {classes.size} labels{' (a sigmoid output is binary)' if out[1] == 1 else ''}")
        return classes

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(n_samples, n_classes)``, float32."""
        classes = self.classes_
        p = self._outputs(X)
        if p.shape[1] == 1 and len(classes) == 2:
            return np.hstack([1.0 - p, p])
        return p

    def predict(self, X: Any) -> np.ndarray:
        """The label with the largest probability for each sample."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _check_targets(self, y: Any) -> None:
        if y is None:
            return
        unknown = np.setdiff1d(np.unique(np.asarray(y)), self.classes_)
        if unknown.size:
            raise ValueError(f"RNNClassifier: y has labels {unknown.tolist()[:10]} the model does not predict; its "
                             f"classes are {self.classes_.tolist()} (set classes= to name the output units)")


class RNNRegressor(RegressorMixin, _RNNEstimator):
    """A pre-trained Keras sequence regressor (or forecaster) as a scikit-learn regressor.

    Args:
        model_or_path: a :class:`pyrnn.Model` or the path of a ``.keras`` / ``.h5`` file with one
            input ``(batch, T, F)`` and one output.
        timesteps: ``T`` for reshaping 2-D ``(N, T*F)`` input when the model's time axis is free.
        compute_type: for a path, the recurrent layers' arithmetic (as in :func:`pyrnn.load`;
            None: "float32"); a model keeps its own (a different value is a ValueError).

    ``predict`` returns ``(n_samples,)`` for one output value per sample, else ``(n_samples,
    k)`` (a sequence output is flattened to its ``k`` values); ``score`` is R².
    ``fit`` trains nothing (see the module).
    """

    def predict(self, X: Any) -> np.ndarray:
        """The model's outputs, float32: ``(n_samples,)`` or ``(n_samples, k)``."""
        y = self._outputs(X)
        y = y.reshape(y.shape[0], -1)
        return y[:, 0] if y.shape[1] == 1 else y
