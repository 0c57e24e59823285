"""pyrnn.sklearn: pre-trained models as scikit-learn estimators (Pipeline, joblib, pickle, sklearn's checks).

The regressor wraps the demo model shipped with pyrnn; the classifiers are the demo model with its last
Dense layer replaced (softmax over 3 units, or a sigmoid unit), so no test here needs TensorFlow. Every
prediction is compared bit for bit with ``model.predict``.
"""

from __future__ import annotations

import copy
import os
import pickle
import warnings

import numpy as np
import pytest

import pyrnn
from pyrnn.keras_files import ModelSource

sklearn = pytest.importorskip("sklearn")
from sklearn.base import clone  # noqa: E402
from sklearn.metrics import accuracy_score, r2_score  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils import estimator_checks as checks  # noqa: E402
from sklearn.utils.validation import check_is_fitted  # noqa: E402

import pyrnn.sklearn as ps  # noqa: E402

DEMO = os.path.join(os.path.dirname(os.path.abspath(pyrnn.__file__)), "data", "demo_sunspots.keras")


@pytest.fixture(scope="module")
def demo():
    return pyrnn.load(DEMO)


def _classifier_model(demo, units, activation):
    """The demo LSTM(32) with a new last layer: Dense(units, activation), seeded weights."""
    src = copy.deepcopy(demo._source)
    dense = src.config["config"]["layers"][-1]["config"]
    dense.update(units=units, activation=activation)
    rng = np.random.default_rng(units)
    src.weights["dense"] = [("dense/0", rng.normal(size=(32, units)).astype(np.float32)),
                            ("dense/1", rng.normal(size=(units,)).astype(np.float32))]
    return pyrnn.Model(ModelSource("classifier", src.config, src.keras_version, src.weights, src.fmt))


@pytest.fixture(scope="module")
def softmax3(demo):
    return _classifier_model(demo, 3, "softmax")


@pytest.fixture(scope="module")
def sigmoid(demo):
    return _classifier_model(demo, 1, "sigmoid")


def _x(n=60, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 24, 1)).astype(np.float32)


# -- scikit-learn's own checks ---------------------------------------------------------------------------
# These apply to a pre-trained estimator and must pass. The rest of sklearn.utils.estimator_checks does
# not apply, because every one of them fits the estimator on generated data of its own shape (2 to 20
# features) and expects it to learn from it, while these estimators run a model with a fixed input
# (here 24 timesteps x 1 feature) and learn nothing: the data-driven checks (check_fit*, check_estimators_*,
# check_regressors_*, check_classifiers_*, check_methods_*_invariance, check_pipeline_consistency,
# check_dict_unchanged, check_dtype_object, ...) fail on the input shape before they test anything.
# check_estimators_unfitted and check_n_features_in expect no prediction / no n_features_in_ before fit:
# a pre-trained model has both from the start (its tags say requires_fit=False). NaN/inf inputs are not
# refused either (check_estimators_nan_inf): as in Keras, they propagate to the outputs. Equivalents of
# the relevant data-driven checks run below on data of the model's shape (pickling, sample order and
# subset invariance, fit returning self, Pipeline use).
APPLICABLE = [
    "check_no_attributes_set_in_init",
    "check_get_params_invariance",
    "check_set_params",
    "check_estimator_cloneable",
    "check_estimator_repr",
    "check_mixin_order",
    "check_estimator_tags_renamed",
    "check_valid_tag_types",
    "check_do_not_raise_errors_in_init_or_set_params",
    "check_parameters_default_constructible",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
]


@pytest.mark.parametrize("check", APPLICABLE)
@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_sklearn_checks(check, kind, softmax3):
    est = ps.RNNRegressor(DEMO) if kind == "regressor" else ps.RNNClassifier(softmax3, classes=["a", "b", "c"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", sklearn.exceptions.SkipTestWarning)
        getattr(checks, check)(type(est).__name__, est)


# -- regressor -----------------------------------------------------------------------------------------


def test_regressor_predicts_like_the_model(demo):
    x = _x()
    ref = demo.predict(x)[:, 0]
    est = ps.RNNRegressor(DEMO)
    check_is_fitted(est)  # pre-trained: usable without fit
    assert est.n_features_in_ == 24
    np.testing.assert_array_equal(est.predict(x), ref)
    np.testing.assert_array_equal(est.predict(x.reshape(60, 24)), ref)  # 2-D (N, T*F)
    assert est.fit(x.reshape(60, 24), ref) is est
    y = ref + np.random.default_rng(1).normal(scale=0.1, size=60).astype(np.float32)
    assert est.score(x, y) == pytest.approx(r2_score(y, ref))
    # pandas, and the estimator takes the same model object too.
    pd = pytest.importorskip("pandas")
    np.testing.assert_array_equal(ps.RNNRegressor(demo).predict(pd.DataFrame(x.reshape(60, 24))), ref)


def test_pipeline_after_a_fitted_scaler(demo):
    rng = np.random.default_rng(2)
    raw = rng.normal(loc=40.0, scale=30.0, size=(80, 24)).astype(np.float32)  # sunspot-like units
    pipe = make_pipeline(StandardScaler(), ps.RNNRegressor(DEMO, timesteps=24))
    pipe.fit(raw)  # fits the scaler; the RNN only checks the shape
    scaled = pipe[0].transform(raw).astype(np.float32)
    np.testing.assert_array_equal(pipe.predict(raw), demo.predict(scaled.reshape(80, 24, 1))[:, 0])
    again = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(again.predict(raw), pipe.predict(raw))
    cloned = clone(pipe)
    assert cloned[-1].get_params()["model_or_path"] == DEMO and cloned[-1].timesteps == 24


def test_joblib_parallel_and_pickle(demo):
    joblib = pytest.importorskip("joblib")
    x = _x(90, seed=3)
    est = ps.RNNRegressor(demo)
    est.predict(x[:1])  # caches the model in the estimator: not pickled twice
    blob = pickle.dumps(est)
    assert len(blob) < 2 * len(pickle.dumps(demo))
    np.testing.assert_array_equal(pickle.loads(blob).predict(x), est.predict(x))
    parts = joblib.Parallel(n_jobs=2)(joblib.delayed(est.predict)(x[i:i + 30]) for i in range(0, 90, 30))
    np.testing.assert_array_equal(np.concatenate(parts), demo.predict(x)[:, 0])
    # Sample order and subset invariance (checks the sklearn suite runs on its own data).
    perm = np.random.default_rng(4).permutation(90)
    np.testing.assert_array_equal(est.predict(x[perm]), est.predict(x)[perm])
    np.testing.assert_array_equal(est.predict(x[10:20]), est.predict(x)[10:20])


# -- classifier ----------------------------------------------------------------------------------------


def test_classifier_softmax(softmax3):
    x = _x(50, seed=5)
    proba = softmax3.predict(x)
    est = ps.RNNClassifier(softmax3, classes=["low", "mid", "high"])
    check_is_fitted(est)
    assert list(est.classes_) == ["low", "mid", "high"] and est.n_features_in_ == 24
    np.testing.assert_array_equal(est.predict_proba(x), proba)
    labels = np.array(["low", "mid", "high"])[proba.argmax(1)]
    np.testing.assert_array_equal(est.predict(x.reshape(50, 24)), labels)
    y = labels.copy()
    y[:5] = "low"
    assert est.score(x, y) == pytest.approx(accuracy_score(y, labels))
    assert est.fit(x, y) is est
    assert list(ps.RNNClassifier(softmax3).classes_) == [0, 1, 2]
    with pytest.raises(ValueError, match=r"y has labels \['other'\] the model does not predict"):
        est.fit(x, np.where(np.arange(50) == 3, "other", y))


def test_classifier_sigmoid_is_binary(sigmoid):
    x = _x(40, seed=6)
    p = sigmoid.predict(x)
    est = ps.RNNClassifier(sigmoid)
    np.testing.assert_array_equal(est.predict_proba(x), np.hstack([1 - p, p]))
    np.testing.assert_array_equal(est.predict(x), (p[:, 0] > 0.5).astype(int))
    assert list(est.classes_) == [0, 1]
    with pytest.raises(ValueError, match="gives probabilities for 2 classes, but classes has 3 labels"):
        ps.RNNClassifier(sigmoid, classes=[0, 1, 2]).predict(x)


# -- errors --------------------------------------------------------------------------------------------


def test_bad_input_says_what_was_expected(demo):
    est = ps.RNNRegressor(demo)
    with pytest.raises(ValueError, match=r"timesteps\*features = 24\*1 = 24 columns, got 23"):
        est.predict(np.zeros((2, 23), np.float32))
    with pytest.raises(ValueError, match=r"X must be 3-D .* or 2-D .*got shape \(2, 24, 1, 1\)"):
        est.predict(np.zeros((2, 24, 1, 1), np.float32))
    with pytest.raises(ValueError, match="X has 2 samples but y has 3"):
        est.fit(np.zeros((2, 24)), [1, 2, 3])
    with pytest.raises(ValueError, match="timesteps=12, but model 'demo_sunspots' takes exactly 24 timesteps"):
        ps.RNNRegressor(demo, timesteps=12).predict(np.zeros((2, 12)))
    with pytest.raises(TypeError, match="model_or_path must be a pyrnn.Model or the path"):
        ps.RNNRegressor(3.5).predict(np.zeros((2, 24)))
    with pytest.raises(ValueError, match=r"model 'demo_sunspots' takes sequences of shape \(None, 24, 1\)"):
        est.fit(np.zeros((2, 24, 2)))


def test_torch_models():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    model = pyrnn.from_torch(torch.nn.LSTM(1, 4, batch_first=True))
    x = _x(20, seed=8)
    y = model.predict(x)[:, -1, :]  # every step's output, flattened: (N, T*H)
    np.testing.assert_array_equal(ps.RNNRegressor(model).predict(x)[:, -4:], y)
    with pytest.raises(ValueError, match="batch_first=False, return_state=False"):
        ps.RNNRegressor(pyrnn.from_torch(torch.nn.LSTM(1, 4))).predict(x)


def test_compute_type_for_a_path(demo):
    """compute_type is an estimator parameter: a path loads in it; a model keeps its own."""
    x = np.random.default_rng(3).normal(size=(20, 24, 1)).astype(np.float32)
    est = ps.RNNRegressor(DEMO, compute_type="int8")
    assert est.get_params()["compute_type"] == "int8" and clone(est).compute_type == "int8"
    int8 = pyrnn.load(DEMO, compute_type="int8")
    np.testing.assert_array_equal(est.predict(x), int8.predict(x)[:, 0])
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(est)).predict(x), int8.predict(x)[:, 0])
    est.set_params(compute_type=None)  # the cached model follows the parameter
    np.testing.assert_array_equal(est.predict(x), demo.predict(x)[:, 0])
    np.testing.assert_array_equal(ps.RNNRegressor(int8).predict(x), int8.predict(x)[:, 0])
    with pytest.raises(ValueError, match="RNNClassifier: model .* computes in float32, not bfloat16"):
        ps.RNNClassifier(demo, compute_type="bf16").predict(x)
