"""A float64 numpy reference written from the Keras equations (keras-semantics.md §1-§4).

Deliberately plain: one timestep at a time, gates sliced from the Keras layouts,
masks applied with Keras's rule. It never calls pyrnn, so it checks our maths where
TensorFlow is absent and cross-checks TensorFlow where it is present.

Reduced precision (``compute_type``, README "Reduced precision"), written from the
contract, not from pyrnn's kernels:

* "bfloat16" / "float16": the recurrent kernel, and the input kernel of a layer with more
  than 16 input features (:data:`NARROW_INPUTS`), are rounded once (:func:`round_weights`);
  everything else is the float64 reference.
* "int8": every matmul ``a @ M`` with such a matrix is :func:`int8_matmul`: per-column
  int8 weights, 7-bit per-row dynamic inputs, an exact integer dot product, scaled in
  float32. A narrow input kernel stays float32.
"""

from __future__ import annotations

import math

import numpy as np

_SELU_L = 1.0507009873554805
_SELU_A = 1.6732632423543772


def _softplus(x):
    return np.logaddexp(0.0, x)


def _sparsemax(x):
    # The TF backend's definition (keras/src/backend/tensorflow/nn.py), threshold included.
    srt = -np.sort(-x, axis=-1)
    cum = np.cumsum(srt, axis=-1)
    r = np.arange(1, x.shape[-1] + 1, dtype=x.dtype)
    support = srt - (cum - 1) / r > 0
    k = support.sum(axis=-1, keepdims=True)
    tau = (np.where(support, cum, 0.0).sum(axis=-1, keepdims=True) - 1) / k
    return np.maximum(x - tau, 0.0)


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


_erf = np.vectorize(math.erf)

ACTIVATIONS = {
    "linear": lambda x: x,
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "hard_sigmoid": lambda x: np.clip(x / 6.0 + 0.5, 0.0, 1.0),
    "hard_sigmoid_keras2": lambda x: np.clip(0.2 * x + 0.5, 0.0, 1.0),
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.2 * x),
    "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
    "selu": lambda x: _SELU_L * np.where(x > 0, x, _SELU_A * np.expm1(np.minimum(x, 0))),
    "softplus": _softplus,
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "silu": lambda x: x / (1.0 + np.exp(-x)),
    "swish": lambda x: x / (1.0 + np.exp(-x)),
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0))),
    "exponential": np.exp,
    "hard_silu": lambda x: x * np.clip((x + 3.0) / 6.0, 0.0, 1.0),
    "hard_swish": lambda x: x * np.clip((x + 3.0) / 6.0, 0.0, 1.0),
    "mish": lambda x: x * np.tanh(_softplus(x)),
    "hard_tanh": lambda x: np.clip(x, -1.0, 1.0),
    "log_sigmoid": lambda x: -_softplus(-x),
    "celu": lambda x: np.maximum(x, 0.0) + np.expm1(np.minimum(x, 0.0)),
    "tanh_shrink": lambda x: x - np.tanh(x),
    "soft_shrink": lambda x: np.where(x > 0.5, x - 0.5, np.where(x < -0.5, x + 0.5, 0.0)),
    "hard_shrink": lambda x: np.where(np.abs(x) > 0.5, x, 0.0),
    "sparse_plus": lambda x: np.where(x <= -1, 0.0, np.where(x < 1, 0.25 * (x + 1) ** 2, x)),
    "sparse_sigmoid": lambda x: np.where(x <= -1, 0.0, np.where(x >= 1, 1.0, 0.5 * (x + 1))),
    "squareplus": lambda x: (x + np.sqrt(x * x + 4.0)) / 2.0,
    "softmax": _softmax,
    "log_softmax": lambda x: (x - x.max(-1, keepdims=True)
                              - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))),
    "sparsemax": _sparsemax,
}


def act(name, keras_version=3):
    if name is None:
        return ACTIVATIONS["linear"]
    if name == "hard_sigmoid" and keras_version < 3:
        return ACTIVATIONS["hard_sigmoid_keras2"]
    return ACTIVATIONS[name]


# -- reduced precision ---------------------------------------------------------------------


def to_bfloat16(a):
    """float32 values rounded to bfloat16 (round to nearest, ties to even), as float32:
    the upper 16 bits of the float32 after rounding."""
    u = np.ascontiguousarray(a, np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000
    return u.astype(np.uint32).view(np.float32)


#: Input kernels of at most this many input features stay float32 in every compute type.
NARROW_INPUTS = 16


def round_weights(weights, compute_type):
    """Keras-order weights [kernel, recurrent_kernel(, bias)] as the layer computes with
    them: for "bfloat16" / "float16" the recurrent kernel rounded, and the kernel too when
    it has more than NARROW_INPUTS rows; the bias, and every weight for "float32" and
    "int8" (whose quantization is per matmul), unchanged."""
    weights = [np.asarray(w, np.float32) for w in weights]
    if compute_type == "bfloat16":
        rnd = to_bfloat16
    elif compute_type == "float16":
        def rnd(w):
            return w.astype(np.float16).astype(np.float32)
    else:
        return weights
    kernel = rnd(weights[0]) if weights[0].shape[0] > NARROW_INPUTS else weights[0]
    return [kernel, rnd(weights[1])] + weights[2:]


def quantize_columns(M):
    """Per-output-column symmetric int8: (q (K, N) in [-127, 127], scale (N,) float32)."""
    M = np.asarray(M, np.float32)
    scale = np.abs(M).max(axis=0) / np.float32(127)
    q = np.rint(M / np.where(scale == 0, np.float32(1), scale))
    q = np.clip(np.where(scale == 0, 0, q), -127, 127)
    return q.astype(np.int64), scale.astype(np.float32)


def quantize_rows(a):
    """Per-row symmetric 7-bit: (q (B, K) in [-63, 63], scale (B, 1) float32), in float32."""
    a = np.asarray(a, np.float32)
    amax = np.abs(a).max(axis=1, keepdims=True)
    inv = np.float32(63) / np.where(amax == 0, np.float32(1), amax)
    q = np.clip(np.where(amax == 0, np.float32(0), np.rint(a * inv)), -63, 63)
    return q.astype(np.int64), (amax / np.float32(63)).astype(np.float32)


def int8_matmul(a, M):
    """``a @ M`` as compute_type="int8" defines it: float32(sum q_a q_w) * (s_a * s_w)."""
    qa, sa = quantize_rows(a)
    qw, sw = quantize_columns(M)
    acc = (qa @ qw).astype(np.float32)  # exact: |sum| <= 63 * 127 * K < 2**24
    return (acc * (sa * sw[None, :])).astype(np.float64)


def _cell_step(kind, x_t, states, W, U, b, phi, sig, reset_after, mm=np.matmul, mmx=None):
    mmx = mmx or mm  # the input projection's matmul
    H = U.shape[0]
    if kind == "SimpleRNN":
        z = mmx(x_t, W) + (b if b is not None else 0.0) + mm(states[0], U)
        h = phi(z)
        return h, [h]
    if kind == "LSTM":
        h_prev, c_prev = states
        z = mmx(x_t, W) + mm(h_prev, U) + (b if b is not None else 0.0)
        i = sig(z[:, :H])
        f = sig(z[:, H:2 * H])
        g = phi(z[:, 2 * H:3 * H])
        o = sig(z[:, 3 * H:])
        c = f * c_prev + i * g
        h = o * phi(c)
        return h, [h, c]
    # GRU
    h_prev = states[0]
    if reset_after:
        bx = b[0] if b is not None else 0.0
        bh = b[1] if b is not None else 0.0
        xz = mmx(x_t, W) + bx
        hz = mm(h_prev, U) + bh
        z = sig(xz[:, :H] + hz[:, :H])
        r = sig(xz[:, H:2 * H] + hz[:, H:2 * H])
        hh = phi(xz[:, 2 * H:] + r * hz[:, 2 * H:])
    else:
        xz = mmx(x_t, W) + (b if b is not None else 0.0)
        hu = mm(h_prev, U[:, :2 * H])  # one matmul for z and r: one quantization of h's row under int8
        z = sig(xz[:, :H] + hu[:, :H])
        r = sig(xz[:, H:2 * H] + hu[:, H:])
        hh = phi(xz[:, 2 * H:] + mm(r * h_prev, U[:, 2 * H:]))
    h = z * h_prev + (1.0 - z) * hh
    return h, [h]


def rnn(kind, x, kernel, recurrent_kernel, bias=None, *, activation="tanh", recurrent_activation="sigmoid",
        reset_after=True, return_sequences=False, return_state=False, go_backwards=False, initial_state=None,
        mask=None, zero_output_for_mask=False, keras_version=3, compute_type="float32"):
    """Keras layer semantics in float64; returns what the Keras layer returns.
    ``compute_type``: the reduced-precision contract (see the module docstring)."""
    mm = mmx = np.matmul
    if compute_type in ("bfloat16", "float16"):
        kernel, recurrent_kernel = round_weights([kernel, recurrent_kernel], compute_type)
    elif compute_type == "int8":
        mm = int8_matmul
        mmx = int8_matmul if np.shape(kernel)[0] > NARROW_INPUTS else np.matmul
    elif compute_type != "float32":
        raise ValueError(compute_type)
    x = np.asarray(x, np.float64)
    W = np.asarray(kernel, np.float64)
    U = np.asarray(recurrent_kernel, np.float64)
    b = None if bias is None else np.asarray(bias, np.float64)
    B, T, _ = x.shape
    H = U.shape[0]
    phi = act(activation, keras_version)
    sig = act(recurrent_activation, keras_version)
    n_states = 2 if kind == "LSTM" else 1
    if initial_state is None:
        states = [np.zeros((B, H)) for _ in range(n_states)]
    else:
        states = [np.asarray(s, np.float64) for s in initial_state]
    m = np.ones((B, T), bool) if mask is None else np.asarray(mask, bool)
    order = range(T - 1, -1, -1) if go_backwards else range(T)
    prev_out = np.zeros((B, H))
    outs = []
    for t in order:
        out, new_states = _cell_step(kind, x[:, t], states, W, U, b, phi, sig, reset_after, mm, mmx)
        valid = m[:, t][:, None]
        states = [np.where(valid, ns, s) for ns, s in zip(new_states, states)]
        held = np.zeros_like(out) if zero_output_for_mask else prev_out
        outs.append(np.where(valid, out, held))
        prev_out = np.where(valid, out, prev_out)
    y = np.stack(outs, axis=1) if return_sequences else prev_out
    return [y, *states] if return_state else y


def bidirectional(kind, x, fwd_weights, bwd_weights, *, merge_mode="concat", return_sequences=False,
                  return_state=False, initial_state=None, mask=None, **options):
    n = 2 if kind == "LSTM" else 1
    init_f = initial_state[:n] if initial_state is not None else None
    init_b = initial_state[n:] if initial_state is not None else None
    common = dict(return_sequences=return_sequences, return_state=True, mask=mask,
                  zero_output_for_mask=return_sequences, **options)
    yf, *sf = rnn(kind, x, *fwd_weights, go_backwards=False, initial_state=init_f, **common)
    yb, *sb = rnn(kind, x, *bwd_weights, go_backwards=True, initial_state=init_b, **common)
    if return_sequences:
        yb = yb[:, ::-1]
    merged = {
        "concat": lambda: [np.concatenate([yf, yb], axis=-1)],
        "sum": lambda: [yf + yb],
        "mul": lambda: [yf * yb],
        "ave": lambda: [(yf + yb) / 2],
        None: lambda: [yf, yb],
    }[merge_mode]()
    if return_state:
        return merged + sf + sb
    return merged if merge_mode is None else merged[0]
