"""A zoo of small Keras recurrent models, each buildable with Keras 3 (`keras`) or tf-keras 2 (`tf_keras`).

Every builder takes the Keras module `k` and returns an *unbuilt-weights* model; `build(entry, k)` then
overwrites every variable from a seeded RNG (deterministic, moderate values: SimpleRNN stays contractive,
BatchNorm variances are positive), so the same entry gives the same weights under both writers.

Inputs are seeded numpy arrays (a list for multi-input models). Masking models get left padding and
holes made of all-zero steps; Embedding models get int ids with zeros.

`writers` says which Keras versions build the entry ("k3" = keras 3.15, "k2" = tf-keras 2.21).
Every entry is saved as `.keras` and legacy `.h5` by each of its writers.

hard_sigmoid: the `stacked_backwards` and `gru_v1_hard` entries use recurrent_activation="hard_sigmoid".
Its meaning differs by writer (keras-semantics.md §1.6): Keras 3 files mean relu6(x+3)/6 = clip(x/6+0.5, 0, 1),
tf-keras 2 files mean clip(0.2x+0.5, 0, 1). The reference outputs come from each writer's own Keras, so a
loader must choose the definition from the file's keras_version.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

WRITERS = ("k3", "k2")
FORMATS = ("keras", "h5")


@dataclass
class Entry:
    name: str
    builder: Callable  # builder(k) -> model
    make_input: Callable  # make_input(rng) -> array or list of arrays
    writers: tuple = WRITERS
    formats: tuple = FORMATS
    note: str = ""
    tags: set = field(default_factory=set)


ZOO: dict[str, Entry] = {}


def entry(name, make_input, **kw):
    def deco(fn):
        ZOO[name] = Entry(name, fn, make_input, **kw)
        return fn

    return deco


# ---------------------------------------------------------------------------------------------- inputs


def normal(*shape, scale=1.0):
    def make(rng):
        return (scale * rng.normal(size=shape)).astype(np.float32)

    return make


def padded(B, T, D, scale=1.0):
    """Float sequences with all-zero steps: left padding, holes, a fully valid row, a fully masked row."""

    def make(rng):
        x = (scale * rng.normal(size=(B, T, D))).astype(np.float32)
        x[0, :3] = 0.0  # left padding
        x[1, 1::3] = 0.0  # holes
        x[2, :] = x[2, :]  # fully valid
        x[3, : T - 1] = 0.0  # only the last step valid
        if B > 4:
            x[4, -2:] = 0.0  # right padding
        # A step with *some* zero features is still valid (Masking needs all features == 0).
        x[2, 2, 0] = 0.0
        return x

    return make


def ids(B, T, vocab):
    def make(rng):
        x = rng.integers(1, vocab, size=(B, T)).astype(np.int32)
        x[0, :4] = 0  # left padding
        x[1, -3:] = 0  # right padding
        x[2, 2::3] = 0  # holes
        return x

    return make


def several(*makers):
    def make(rng):
        return [m(rng) for m in makers]

    return make


# ---------------------------------------------------------------------------------------------- weights


def set_deterministic_weights(model, seed):
    """Overwrite every variable: U(-s, s) with s = min(0.5, 1.7/sqrt(fan_in)); BN/LN scales near 1,
    BN moving variance in [0.5, 1.5], PReLU alpha in [0, 0.5], embeddings U(-1, 1)."""
    rng = np.random.default_rng(seed)
    new = []
    for v in model.weights:
        name = getattr(v, "path", None) or v.name
        shape = tuple(int(d) for d in v.shape)
        if "moving_variance" in name:
            a = rng.uniform(0.5, 1.5, size=shape)
        elif "gamma" in name:
            a = rng.uniform(0.7, 1.3, size=shape)
        elif "moving_mean" in name or "beta" in name:
            a = rng.uniform(-0.3, 0.3, size=shape)
        elif name.split("/")[-1].startswith("alpha"):  # PReLU
            a = rng.uniform(0.0, 0.5, size=shape)
        elif "embeddings" in name:
            a = rng.uniform(-1.0, 1.0, size=shape)
        else:
            fan_in = int(np.prod(shape[:-1])) if len(shape) >= 2 else 1
            s = min(0.5, 1.7 / np.sqrt(max(fan_in, 1)))
            a = rng.uniform(-s, s, size=shape)
        new.append(a.astype(np.float32))
    model.set_weights(new)


def build(e: Entry, k, seed=0):
    model = e.builder(k)
    set_deterministic_weights(model, seed)
    return model


def make_input(e: Entry, seed=1):
    return e.make_input(np.random.default_rng(seed))


# ---------------------------------------------------------------------------------------------- the zoo


@entry("lstm_dense", normal(5, 8, 3))
def lstm_dense(k):
    L = k.layers
    return k.Sequential([k.Input(shape=(8, 3)), L.LSTM(6, name="lstm"), L.Dense(2, name="dense")], name="lstm_dense")


@entry("conv_pool_lstm", normal(4, 12, 3))
def conv_pool_lstm(k):
    """Conv1D(valid) + MaxPooling1D -> LSTM -> Dense softmax."""
    L = k.layers
    return k.Sequential(
        [
            k.Input(shape=(12, 3)),
            L.Conv1D(8, 3, activation="relu", name="conv"),
            L.MaxPooling1D(2, name="pool"),
            L.LSTM(6, name="lstm"),
            L.Dense(3, activation="softmax", name="probs"),
        ],
        name="conv_pool_lstm",
    )


@entry("conv_variants", normal(4, 11, 3))
def conv_variants(k):
    """Conv1D same/stride 2 (odd T), causal/dilation 2, AveragePooling1D(same), MaxPooling1D(same, stride 1),
    GlobalMaxPooling1D and GlobalAveragePooling1D without a mask, GRU, Concatenate."""
    L = k.layers
    x = k.Input(shape=(11, 3), name="signal")
    a = L.Conv1D(6, 3, padding="same", strides=2, activation="tanh", name="conv_same_s2")(x)  # T 6
    b = L.Conv1D(5, 3, padding="causal", dilation_rate=2, name="conv_causal_d2")(a)  # T 6
    c = L.AveragePooling1D(4, strides=3, padding="same", name="avgpool_same")(b)  # T 2
    d = L.MaxPooling1D(2, strides=1, padding="same", name="maxpool_same")(b)  # T 6
    e = L.Conv1D(4, 2, padding="valid", strides=2, name="conv_valid_s2")(x)  # T 5
    g = L.GRU(4, name="gru")(d)
    merged = L.Concatenate(name="cat")(
        [L.GlobalMaxPooling1D(name="gmax")(c), g, L.GlobalAveragePooling1D(name="gavg")(e)]
    )
    return k.Model(x, L.Dense(3, name="head")(merged), name="conv_variants")


@entry("emb_bilstm_lstm", ids(5, 10, 20))
def emb_bilstm_lstm(k):
    """Embedding(mask_zero) -> Bidirectional(LSTM, sequences) -> LSTM -> Dense softmax (Sequential)."""
    L = k.layers
    return k.Sequential(
        [
            k.Input(shape=(10,), dtype="int32"),
            L.Embedding(20, 6, mask_zero=True, name="emb"),
            L.Bidirectional(L.LSTM(5, return_sequences=True), name="bilstm"),
            L.LSTM(4, name="lstm"),
            L.Dense(3, activation="softmax", name="probs"),
        ],
        name="emb_bilstm_lstm",
    )


@entry("autoencoder", normal(4, 7, 3))
def autoencoder(k):
    """LSTM -> RepeatVector -> LSTM(sequences) -> TimeDistributed(Dense)."""
    L = k.layers
    return k.Sequential(
        [
            k.Input(shape=(7, 3)),
            L.LSTM(6, name="encoder"),
            L.RepeatVector(7, name="repeat"),
            L.LSTM(6, return_sequences=True, name="decoder"),
            L.TimeDistributed(L.Dense(3), name="td"),
        ],
        name="autoencoder",
    )


@entry("masking_gru_gap", padded(5, 9, 4))
def masking_gru_gap(k):
    """Masking -> GRU(sequences) -> GlobalAveragePooling1D (masked mean) -> Dense, as a Functional model
    (Keras 3 writes NotEqual/Any op nodes for the mask)."""
    L = k.layers
    x = k.Input(shape=(9, 4), name="frames")
    m = L.Masking(0.0, name="mask")(x)
    h = L.GRU(5, return_sequences=True, name="gru")(m)
    p = L.GlobalAveragePooling1D(name="masked_mean")(h)
    return k.Model(x, L.Dense(2, name="head")(p), name="masking_gru_gap")


@entry("masking_seq", padded(5, 8, 3))
def masking_seq(k):
    """Sequential Masking -> LSTM(sequences) -> SimpleRNN(sequences) -> TimeDistributed(Dense): masked steps
    repeat the previous output (zeros before the first valid step)."""
    L = k.layers
    return k.Sequential(
        [
            k.Input(shape=(8, 3)),
            L.Masking(0.0, name="mask"),
            L.LSTM(5, return_sequences=True, name="lstm"),
            L.SimpleRNN(4, return_sequences=True, name="rnn"),
            L.TimeDistributed(L.Dense(2), name="td"),
        ],
        name="masking_seq",
    )


@entry("forecaster", normal(4, 10, 2))
def forecaster(k):
    """2 x LSTM(sequences) with Dropout, Dense(1) per step."""
    L = k.layers
    return k.Sequential(
        [
            k.Input(shape=(10, 2)),
            L.LSTM(8, return_sequences=True, name="lstm1"),
            L.Dropout(0.3, name="drop1"),
            L.LSTM(6, return_sequences=True, name="lstm2"),
            L.Dropout(0.3, name="drop2"),
            L.Dense(1, name="next_value"),
        ],
        name="forecaster",
    )


@entry("rescaled_sensor", normal(4, 12, 3, scale=40.0))
def rescaled_sensor(k):
    """Rescaling(1/50, offset -1) on raw sensor values -> LSTM -> Dense: the rescaling op."""
    L = k.layers
    return k.Sequential(
        [
            k.Input(shape=(12, 3)),
            L.Rescaling(scale=0.02, offset=-1.0, name="to_unit_range"),
            L.LSTM(6, name="lstm"),
            L.Dense(2, name="out"),
        ],
        name="rescaled_sensor",
    )


@entry("stacked_backwards", normal(4, 9, 3))
def stacked_backwards(k):
    """Stacked RNNs with go_backwards (outputs not re-reversed) and LSTM hard_sigmoid (version dependent)."""
    L = k.layers
    return k.Sequential(
        [
            k.Input(shape=(9, 3)),
            L.LSTM(6, return_sequences=True, go_backwards=True, recurrent_activation="hard_sigmoid", name="lstm_back"),
            L.GRU(5, return_sequences=True, go_backwards=True, name="gru_back"),
            L.SimpleRNN(4, return_sequences=True, name="rnn_fwd"),
            L.SimpleRNN(4, go_backwards=True, activation="relu", name="rnn_back_relu"),
            L.Dense(2, name="dense"),
        ],
        name="stacked_backwards",
    )


@entry("gru_v1_hard", normal(4, 8, 3, scale=2.0))
def gru_v1_hard(k):
    """GRU(reset_after=False) with hard_sigmoid, then GRU(reset_after=True, use_bias=False), SimpleRNN no bias."""
    L = k.layers
    return k.Sequential(
        [
            k.Input(shape=(8, 3)),
            L.GRU(6, reset_after=False, recurrent_activation="hard_sigmoid", return_sequences=True, name="gru_v1"),
            L.GRU(5, reset_after=True, use_bias=False, return_sequences=True, name="gru_nobias"),
            L.SimpleRNN(4, use_bias=False, activation="sigmoid", name="rnn"),
            L.Dense(3, activation="tanh", name="dense"),
        ],
        name="gru_v1_hard",
    )


@entry("bidir_merge_modes", normal(4, 7, 4))
def bidir_merge_modes(k):
    """Bidirectional with merge_mode sum, mul, ave, concat and None (two outputs)."""
    L = k.layers
    x = k.Input(shape=(7, 4), name="x")
    a = L.Bidirectional(L.GRU(4, return_sequences=True), merge_mode="sum", name="bi_sum")(x)
    b = L.Bidirectional(L.LSTM(4, return_sequences=True), merge_mode="mul", name="bi_mul")(a)
    c = L.Bidirectional(L.SimpleRNN(3, return_sequences=True), merge_mode="ave", name="bi_ave")(b)
    d = L.Bidirectional(L.GRU(3, reset_after=False), merge_mode="concat", name="bi_concat")(c)
    f, bw = L.Bidirectional(L.LSTM(3), merge_mode=None, name="bi_none")(b)
    out = L.Concatenate(name="cat")([d, f, bw])
    return k.Model(x, [L.Dense(2, name="head")(out), bw], name="bidir_merge_modes")


@entry("bidir_return_state", padded(5, 8, 3))
def bidir_return_state(k):
    """Bidirectional(LSTM, return_state) on masked input: outputs [out, fh, fc, bh, bc]; states feed Dense."""
    L = k.layers
    x = k.Input(shape=(8, 3), name="x")
    m = L.Masking(name="mask")(x)
    out, fh, fc, bh, bc = L.Bidirectional(L.LSTM(4, return_state=True), name="bilstm")(m)
    states = L.Concatenate(name="states")([fh, fc, bh, bc])
    y = L.Dense(3, activation="softmax", name="probs")(states)
    return k.Model(x, [out, y, bc], name="bidir_return_state")


@entry("encoder_decoder", several(normal(4, 9, 3), normal(4, 6, 5)))
def encoder_decoder(k):
    """Seq2seq: encoder LSTM(return_state) -> decoder LSTM(initial_state=[h, c]) -> TimeDistributed(Dense softmax)."""
    L = k.layers
    enc_in = k.Input(shape=(9, 3), name="enc_in")
    dec_in = k.Input(shape=(6, 5), name="dec_in")
    _, h, c = L.LSTM(6, return_state=True, name="encoder")(enc_in)
    dec = L.LSTM(6, return_sequences=True, name="decoder")(dec_in, initial_state=[h, c])
    y = L.TimeDistributed(L.Dense(4, activation="softmax"), name="td_probs")(dec)
    return k.Model([enc_in, dec_in], y, name="encoder_decoder")


@entry("encoder_decoder_gru", several(normal(4, 7, 3), normal(4, 5, 2)))
def encoder_decoder_gru(k):
    """GRU encoder state -> GRU decoder initial_state; a second output from the encoder state."""
    L = k.layers
    enc_in = k.Input(shape=(7, 3), name="enc_in")
    dec_in = k.Input(shape=(5, 2), name="dec_in")
    _, h = L.GRU(5, return_sequences=True, return_state=True, name="encoder")(enc_in)
    dec = L.GRU(5, return_sequences=True, name="decoder")(dec_in, initial_state=[h])
    y = L.Dense(2, name="dense")(dec)
    return k.Model([enc_in, dec_in], [y, L.Dense(1, name="from_state")(h)], name="encoder_decoder_gru")


@entry("multi_io_merges", several(normal(4, 6, 3), normal(4, 5)))
def multi_io_merges(k):
    """Two inputs (sequence + vector), a Dense layer shared twice, every merge layer, two outputs."""
    L = k.layers
    seq = k.Input(shape=(6, 3), name="seq")
    vec = k.Input(shape=(5,), name="vec")
    g = L.GRU(4, name="gru")(seq)
    v = L.Dense(4, activation="relu", name="vec_proj")(vec)
    shared = L.Dense(4, activation="tanh", name="shared")
    s1, s2 = shared(g), shared(v)
    merges = [
        L.Add(name="add")([s1, s2]),
        L.Subtract(name="sub")([s1, s2]),
        L.Multiply(name="mul")([s1, s2]),
        L.Average(name="avg")([s1, s2]),
        L.Maximum(name="max")([s1, s2]),
        L.Minimum(name="min")([s1, s2]),
        L.Add(name="add3")([s1, s2, v]),
    ]
    cat = L.Concatenate(name="cat")(merges)
    y1 = L.Dense(3, activation="softmax", name="probs")(cat)
    y2 = L.Dense(1, name="score")(merges[4])
    return k.Model([seq, vec], [y1, y2], name="multi_io_merges")


@entry("norm_and_activations", normal(6, 7, 5))
def norm_and_activations(k):
    """Dense -> BatchNorm -> ReLU -> LayerNorm -> LSTM -> activation layers (LeakyReLU, ELU, PReLU, Softmax),
    Activation, Dense with a layer object as activation."""
    L = k.layers
    return k.Sequential(
        [
            k.Input(shape=(7, 5)),
            L.Dense(8, name="proj"),
            L.BatchNormalization(name="bn"),
            L.ReLU(name="relu"),
            L.LayerNormalization(name="ln"),
            L.LSTM(6, return_sequences=True, name="lstm"),
            L.LeakyReLU(name="leaky"),  # default slope 0.3
            L.Dense(6, activation=L.LeakyReLU(), name="dense_leaky_obj"),  # activation serialised as a layer dict
            L.ELU(name="elu"),
            L.PReLU(name="prelu"),
            L.Activation("tanh", name="act_tanh"),
            L.BatchNormalization(center=False, scale=False, epsilon=0.01, name="bn_plain"),
            L.LayerNormalization(epsilon=1e-4, center=False, name="ln_nocenter"),
            L.Dense(4, name="logits"),
            L.Softmax(name="softmax"),
        ],
        name="norm_and_activations",
    )


@entry("dense_activations", normal(4, 6, 3, scale=2.0))
def dense_activations(k):
    """Dense on the LSTM output with many activation strings (names present in both Keras versions)."""
    L = k.layers
    acts = ["relu", "elu", "selu", "softplus", "softsign", "swish", "gelu", "sigmoid", "hard_sigmoid",
            "relu6", "exponential", "linear", "leaky_relu", "mish"]
    x = k.Input(shape=(6, 3), name="x")
    h = L.LSTM(6, name="lstm")(x)
    outs = [L.Dense(3, activation=a, name=f"d_{a}")(h) for a in acts]
    outs.append(L.Activation("softmax", name="act_softmax")(outs[0]))
    outs.append(L.Activation("relu6", name="act_relu6")(L.Dense(3, name="d_wide")(h)))
    return k.Model(x, L.Concatenate(name="cat")(outs), name="dense_activations")


@entry("regularization_noop", normal(4, 8, 4))
def regularization_noop(k):
    """Dropout, SpatialDropout1D, GaussianNoise, GaussianDropout, AlphaDropout (identity at inference);
    LSTM/GRU dropout and recurrent_dropout."""
    L = k.layers
    return k.Sequential(
        [
            k.Input(shape=(8, 4)),
            L.GaussianNoise(0.5, name="noise"),
            L.SpatialDropout1D(0.4, name="spatial_drop"),
            L.LSTM(6, return_sequences=True, dropout=0.3, recurrent_dropout=0.3, name="lstm"),
            L.GaussianDropout(0.3, name="gauss_drop"),
            L.AlphaDropout(0.2, name="alpha_drop"),
            L.GRU(5, dropout=0.2, name="gru"),
            L.Dropout(0.5, name="drop"),
            L.Dense(2, name="dense"),
        ],
        name="regularization_noop",
    )


@entry("td_nested", normal(4, 6, 4))
def td_nested(k):
    """TimeDistributed(nested Sequential) and a nested Sequential model used as a layer."""
    L = k.layers
    per_step = k.Sequential([L.Dense(6, activation="relu"), L.Dense(4)], name="per_step")
    head = k.Sequential([L.Dense(5, activation="tanh"), L.Dense(3)], name="head")
    return k.Sequential(
        [
            k.Input(shape=(6, 4)),
            L.TimeDistributed(per_step, name="td_seq"),
            L.GRU(5, name="gru"),
            head,
        ],
        name="td_nested",
    )


@entry("nested_model_functional", several(normal(4, 7, 3), normal(4, 7, 3)))
def nested_model_functional(k):
    """A nested Sequential (with its own Input) used on two inputs (shared sub-model) in a Functional model."""
    L = k.layers
    inner = k.Sequential(
        [k.Input(shape=(7, 4)), L.LSTM(5, return_sequences=True, name="inner_lstm"), L.Dense(3, name="inner_dense")],
        name="inner",
    )
    a = k.Input(shape=(7, 3), name="a")
    b = k.Input(shape=(7, 3), name="b")
    proj = L.Dense(4, name="proj")
    ya = inner(proj(a))
    yb = inner(proj(b))
    y = L.Subtract(name="diff")([L.GlobalAveragePooling1D(name="pool_a")(ya), L.GlobalMaxPooling1D(name="pool_b")(yb)])
    return k.Model([a, b], L.Dense(2, name="out")(y), name="nested_model_functional")


@entry("reshape_permute", normal(4, 6, 4))
def reshape_permute(k):
    """Permute, Reshape, SimpleRNN(sequences), Flatten, RepeatVector, Dense."""
    L = k.layers
    return k.Sequential(
        [
            k.Input(shape=(6, 4)),
            L.Permute((2, 1), name="permute"),  # (4, 6)
            L.Reshape((8, 3), name="reshape"),  # (8, 3)
            L.SimpleRNN(5, return_sequences=True, name="rnn"),
            L.Flatten(name="flatten"),  # 40
            L.Dense(4, activation="relu", name="dense"),
            L.RepeatVector(3, name="repeat"),
            L.GRU(3, return_sequences=True, name="gru"),
            L.Reshape((9,), name="flat2"),
        ],
        name="reshape_permute",
    )


@entry("emb_gru_gap", ids(5, 9, 15))
def emb_gru_gap(k):
    """Functional Embedding(mask_zero) (Keras 3 writes a NotEqual op node) -> Dense per step (keeps the mask)
    -> Bidirectional(GRU, sequences: masked steps output 0) -> masked GlobalAveragePooling1D -> Dense."""
    L = k.layers
    x = k.Input(shape=(9,), dtype="int32", name="tokens")
    e = L.Embedding(15, 5, mask_zero=True, name="emb")(x)
    d = L.Dense(6, activation="tanh", name="proj")(e)
    h = L.Bidirectional(L.GRU(4, return_sequences=True), name="bigru")(d)
    p = L.GlobalAveragePooling1D(name="masked_mean")(h)
    return k.Model(x, L.Dense(3, name="head")(p), name="emb_gru_gap")


@entry("mask_propagation", padded(5, 9, 4))
def mask_propagation(k):
    """Where the mask goes (keras-semantics.md §3.3): kept by Dense/Dropout/LayerNorm/RNN(sequences), used by
    go_backwards LSTM and masked GlobalAveragePooling1D, destroyed by Conv1D and by an RNN without sequences."""
    L = k.layers
    x = k.Input(shape=(9, 4), name="x")
    m = L.Masking(name="mask")(x)
    h = L.Dense(6, activation="tanh", name="dense_keeps")(m)
    h = L.Dropout(0.5, name="drop_keeps")(h)
    h = L.LayerNormalization(name="ln_keeps")(h)
    h = L.LSTM(5, return_sequences=True, go_backwards=True, name="lstm_back_masked")(h)
    seq = L.GRU(4, return_sequences=True, name="gru_masked")(h)
    out1 = L.GlobalAveragePooling1D(name="masked_mean")(seq)
    c = L.Conv1D(4, 3, padding="same", name="conv_drops_mask")(m)
    out2 = L.LSTM(3, name="lstm_after_conv")(c)
    last = L.GRU(4, name="gru_last_valid")(seq)  # output mask None from here on
    rep = L.RepeatVector(3, name="repeat")(last)
    out3 = L.Flatten(name="flat")(L.SimpleRNN(3, return_sequences=True, name="rnn_unmasked")(rep))
    return k.Model(x, [out1, out2, out3], name="mask_propagation")


def five_padded(B, T, D):
    def make(rng):
        x = padded(B, T, D)(rng)
        x[x == 0.0] = 5.0  # the padding value is 5.0 (a step is masked only if every feature is 5.0)
        return x

    return make


@entry("mask_value_five", five_padded(5, 7, 3))
def mask_value_five(k):
    """Masking(mask_value=5.0) zeroes masked steps in its output; Bidirectional(GRU reset_after=False) and
    SimpleRNN(return_state) on the mask."""
    L = k.layers
    x = k.Input(shape=(7, 3), name="x")
    m = L.Masking(mask_value=5.0, name="mask5")(x)
    y = L.Bidirectional(L.GRU(3, return_sequences=True, reset_after=False), name="bigru_v1")(m)
    seq, h = L.SimpleRNN(4, return_sequences=True, return_state=True, name="rnn_state")(y)
    return k.Model(x, [seq, h, L.TimeDistributed(L.Dense(2), name="td")(m)], name="mask_value_five")


@entry("emb_seq_gap", ids(5, 10, 12))
def emb_seq_gap(k):
    """Sequential Embedding(mask_zero) straight into masked GlobalAveragePooling1D."""
    L = k.layers
    return k.Sequential(
        [
            k.Input(shape=(10,), dtype="int32"),
            L.Embedding(12, 4, mask_zero=True, name="emb"),
            L.GlobalAveragePooling1D(name="masked_mean"),
            L.Dense(2, activation="softmax", name="probs"),
        ],
        name="emb_seq_gap",
    )


@entry("layer_options", normal(4, 6, 3))
def layer_options(k):
    """Non-default options: Concatenate(axis=1), Reshape with -1, Dense(use_bias=False),
    GRU(activation=relu, go_backwards), LSTM(unroll=True, use_bias=False), SimpleRNN return_state."""
    L = k.layers
    x = k.Input(shape=(6, 3), name="x")
    a = L.Dense(4, use_bias=False, name="dense_nobias")(x)
    b = L.Softmax(name="softmax_layer")(a)  # (pyrnn refuses Softmax(axis=1) with UnsupportedLayerError: by design)
    c = L.Concatenate(axis=1, name="cat_time")([a, b])  # (12, 4)
    d = L.Reshape((-1, 8), name="reshape_minus1")(c)  # (6, 8)
    e = L.Activation("softmax", name="act_softmax")(d)
    seq, h = L.SimpleRNN(4, return_sequences=True, return_state=True, name="rnn_state")(e)
    g = L.GRU(3, activation="relu", go_backwards=True, name="gru_relu_back")(seq)
    u = L.LSTM(3, unroll=True, use_bias=False, name="lstm_unrolled")(d)
    out = L.Concatenate(name="cat")([h, g, u])
    return k.Model(x, L.Dense(2, name="head")(out), name="layer_options")


def nested_once(k):
    L = k.layers
    inner = k.Sequential([k.Input(shape=(5, 3)), L.GRU(4, return_sequences=True, name="inner_gru")], name="inner1")
    x = k.Input(shape=(5, 3), name="x")
    return k.Model(x, L.Dense(2, name="out")(L.GlobalMaxPooling1D(name="gmax")(inner(x))), name="nested_once")


entry("nested_once", normal(4, 5, 3))(nested_once)  # a nested model with its own Input, called once


@entry("decoder_step", several(padded(5, 6, 4), normal(5, 5), normal(5, 5)))
def decoder_step(k):
    """Seq2seq inference decoder: states come in as model inputs and go out as outputs, on a Masking input.

    Writer-dependent, VERIFIED here: tf-keras 2 applies the mask (leading masked steps output 0 even with a
    non-zero initial_state; a fully masked row returns the initial states). Keras 3.15 does NOT: its
    Layer.__call__ fills `mask` automatically only when the call has a single tensor argument, and
    initial_state makes it three, so the LSTM runs unmasked (the config has no mask kwarg for the node).
    Each writer's file is compared with that writer's own outputs."""
    L = k.layers
    dec_in = k.Input(shape=(6, 4), name="dec_in")
    h_in = k.Input(shape=(5,), name="h_in")
    c_in = k.Input(shape=(5,), name="c_in")
    m = L.Masking(name="mask")(dec_in)
    seq, h, c = L.LSTM(5, return_sequences=True, return_state=True, name="dec_lstm")(m, initial_state=[h_in, c_in])
    y = L.Dense(3, activation="softmax", name="probs")(seq)
    return k.Model([dec_in, h_in, c_in], [y, h, c], name="decoder_step")



def right_padded(B, T, D):
    """A second mask pattern, different from padded(): right padding and a hole per row."""

    def make(rng):
        x = rng.normal(size=(B, T, D)).astype(np.float32)
        for b in range(B):
            if b != 3:  # padded() leaves row 3 only its last step: keep it valid here
                x[b, T - 1 - (b % 3):] = 0.0
            x[b, (b + 1) % (T - 1)] = 0.0
        return x

    return make


@entry("masked_merges", several(padded(5, 7, 3), right_padded(5, 7, 3)))
def masked_merges(k):
    """Merges of masked inputs, where the dialects differ: Keras 3 ORs the masks (and drops the mask when an
    input has none), tf-keras ANDs the masks that are present; the RNNs after each merge show which."""
    L = k.layers
    a_in = k.Input(shape=(7, 3), name="a")
    b_in = k.Input(shape=(7, 3), name="b")
    a = L.Masking(name="mask_a")(a_in)
    b = L.Masking(name="mask_b")(b_in)
    added = L.Add(name="add_masked")([a, b])
    out1 = L.LSTM(4, name="lstm_after_add")(added)
    cat = L.Concatenate(name="cat_masked")([a, b])
    out2 = L.GRU(3, return_sequences=True, name="gru_after_cat")(cat)
    out2 = L.GlobalAveragePooling1D(name="gap_after_cat")(out2)
    half = L.Maximum(name="max_half_masked")([a, L.Dense(3, name="unmasked")(b_in)])
    out3 = L.SimpleRNN(3, name="rnn_after_half")(half)
    prod = L.Multiply(name="mul_masked")([a, b])  # Keras 3: masked factors count as 1
    out4 = L.LSTM(3, return_sequences=True, name="lstm_after_mul")(prod)
    low = L.Minimum(name="min_masked")([a, b])
    out5 = L.GRU(3, name="gru_after_min")(low)
    out6 = L.Flatten(name="flat_mul_half")(L.Multiply(name="mul_half_masked")([b, L.Dense(3, name="unmasked2")(a_in)]))
    return k.Model([a_in, b_in], [out1, out2, out3, out4, out5, out6], name="masked_merges")

def cases():
    """(entry name, writer, format) triples."""
    return [(e.name, w, f) for e in ZOO.values() for w in e.writers for f in e.formats]
