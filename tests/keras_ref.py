"""Reference outputs from TensorFlow/Keras itself (Keras 3, or tf-keras 2 as `tf_keras`)."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")


def module(version: int):
    if version == 2:
        return pytest.importorskip("tf_keras")
    return keras


def _np(out):
    if isinstance(out, (list, tuple)):
        return [np.asarray(o) for o in out]
    return np.asarray(out)


def build_layer(kind, input_dim, weights, version=3, **opts):
    """A built Keras layer of `kind` with the given weights."""
    K = module(version)
    units = weights[1].shape[0]
    layer = getattr(K.layers, kind)(units, use_bias=len(weights) == 3, **opts)
    layer.build((None, None, input_dim))
    layer.set_weights(weights)
    return layer


def build_bidirectional(kind, input_dim, wf, wb, merge_mode, version=3, **opts):
    K = module(version)
    units = wf[1].shape[0]
    bi = K.layers.Bidirectional(getattr(K.layers, kind)(units, **opts), merge_mode=merge_mode)
    bi.build((None, None, input_dim))
    bi.set_weights(list(wf) + list(wb))
    return bi


def run(layer, x, initial_state=None, mask=None):
    kwargs = {}
    if initial_state is not None:
        kwargs["initial_state"] = [tf.constant(s) for s in initial_state]
    if mask is not None:
        kwargs["mask"] = tf.constant(mask)
    return _np(layer(tf.constant(x), **kwargs))
