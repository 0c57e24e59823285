"""Reduced precision (``compute_type``): spellings and messages, the contract against the
float64 oracle on every ISA tier, batch and thread invariance, and the user-facing surface
(layers, models, streams, pickles, summary, repr, show_config, the CLI).

The contract (README "Reduced precision"), which tests/oracle.py implements independently:

* bfloat16 / float16 round the two kernel matrices once and compute in float32, so pyrnn
  must match the float64 oracle run with the rounded weights to the float32 contract
  (1e-5 relative).
* int8 quantizes every matmul (int8 weights per column, 7-bit inputs per row) with exact
  integer dot products. Fed the same float32 states, one step of pyrnn matches one step
  of the oracle to float32 rounding (``test_int8_steps_match_the_oracle``); over a whole
  sequence a state that lands within rounding of a quantization boundary may round the
  other way in the float64 oracle, so whole sequences are compared step by step.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import tempfile

import numpy as np
import oracle
import pytest
from conftest import TIERS, assert_parity, each_tier, make_mask, make_weights, rel_err

import pyrnn
from pyrnn import _core

REDUCED = ("bfloat16", "float16", "int8")
KINDS = [("SimpleRNN", True), ("LSTM", True), ("GRU", True), ("GRU", False)]
KIND_IDS = ["simple", "lstm", "gru", "gru_v1"]
DEMO = os.path.join(os.path.dirname(os.path.abspath(pyrnn.__file__)), "data", "demo_sunspots.keras")
DEMO_X = os.path.join(os.path.dirname(DEMO), "demo_inputs.npy")


def layer(kind, weights, reset_after=True, **opts):
    if kind == "GRU":
        opts["reset_after"] = reset_after
    return getattr(pyrnn, kind)(*weights, **opts)


@pytest.fixture
def threads():
    previous = pyrnn.get_num_threads()
    yield pyrnn.set_num_threads
    pyrnn.set_num_threads(previous)


# -- spellings and messages ---------------------------------------------------------------

SPELLINGS = [
    ("float32", "float32"), ("FP32", "float32"), (np.float32, "float32"), (np.dtype("float32"), "float32"),
    ("bfloat16", "bfloat16"), ("BF16", "bfloat16"), ("bf16", "bfloat16"),
    ("float16", "float16"), ("fp16", "float16"), ("Half", "float16"), (np.float16, "float16"),
    ("int8", "int8"), ("INT8", "int8"), (np.int8, "int8"), (_core.ComputeType.int8, "int8"),
]


@pytest.mark.parametrize("spelling,canonical", SPELLINGS, ids=[str(s) for s, _ in SPELLINGS])
def test_spellings_are_canonicalized(spelling, canonical):
    w = make_weights("GRU", 3, 4, np.random.default_rng(0))
    gru = pyrnn.GRU(*w, compute_type=spelling)
    assert gru.compute_type == canonical
    assert gru._impl.compute_type.name == canonical
    assert gru._impl.compute_type is getattr(_core.ComputeType, canonical)


def test_compute_types_constant_and_default():
    assert pyrnn.COMPUTE_TYPES == ("float32", "bfloat16", "float16", "int8")
    w = make_weights("LSTM", 3, 4, np.random.default_rng(0))
    lstm = pyrnn.LSTM(*w)
    assert lstm.compute_type == "float32" and lstm._impl.compute_type is _core.ComputeType.float32
    assert "compute_type" not in repr(lstm)  # the default is not spelled out
    assert "compute_type='int8'" in repr(pyrnn.LSTM(*w, compute_type="int8"))


@pytest.mark.parametrize("bad", ["float64", "int4", "", np.float64, np.int16, 16, None, True, [("a", "f4")], {}])
def test_unknown_compute_type_lists_the_valid_ones(bad):
    w = make_weights("LSTM", 3, 4, np.random.default_rng(0))
    expected = r"expected 'float32' \(or 'fp32'\), 'bfloat16' \('bf16'\), 'float16' \('fp16', 'half'\) or 'int8'"
    with pytest.raises(ValueError, match=r"LSTM 'enc': unknown compute_type .*; " + expected):
        pyrnn.LSTM(*w, name="enc", compute_type=bad)
    with pytest.raises(ValueError, match=r"pyrnn.load: unknown compute_type"):
        pyrnn.load(DEMO, compute_type=bad)


def test_float16_refuses_weights_beyond_its_range_naming_the_layer():
    w = make_weights("LSTM", 3, 4, np.random.default_rng(0))
    w[1][2, 5] = 1e5
    with pytest.raises(ValueError, match=r"LSTM 'big': float16 cannot hold the weight value .*65504.*bfloat16") as info:
        pyrnn.LSTM(*w, name="big", compute_type="float16")
    assert "100000" in str(info.value) or "1e+05" in str(info.value)
    # What rounds to float16's largest finite value (65504) is fine; what rounds to infinity is not.
    for fine in (65504.0, -65519.0):
        w[1][2, 5] = fine
        pyrnn.LSTM(*w, compute_type="fp16")
    w[1][2, 5] = 65520.0
    with pytest.raises(ValueError, match="float16 cannot hold the weight value 65520"):
        pyrnn.LSTM(*w, compute_type="fp16")
    # The other types take any finite weight.
    w[1][2, 5] = 1e5
    for ctype in ("float32", "bfloat16", "int8"):
        assert pyrnn.LSTM(*w, compute_type=ctype).compute_type == ctype


@pytest.mark.parametrize("device", ["cuda", "cuda:0", "cuda:1"])
@pytest.mark.parametrize("ctype", REDUCED)
def test_reduced_types_are_cpu_only(device, ctype):
    """Asked on a CUDA device, a reduced type says it runs on the CPU (in any build: the
    check comes before looking for CUDA)."""
    w = make_weights("GRU", 3, 4, np.random.default_rng(0))
    with pytest.raises(ValueError, match=rf"GRU 'gru': compute_type='{ctype}' runs on the CPU only; CUDA layers "
                                         rf"\(device='{device}'\) compute in float32"):
        pyrnn.GRU(*w, device=device, compute_type=ctype)


def test_bidirectional_reports_and_checks_its_compute_type():
    rng = np.random.default_rng(0)
    wf, wb = make_weights("GRU", 3, 5, rng), make_weights("GRU", 3, 5, rng)
    bi = pyrnn.Bidirectional(pyrnn.GRU(*wf, compute_type="bf16"), pyrnn.GRU(*wb, go_backwards=True,
                                                                          compute_type="bf16"))
    assert bi.compute_type == "bfloat16" and "compute_type='bfloat16'" in repr(bi)
    with pytest.raises(ValueError, match="forward and backward disagree on compute_type: 'int8' vs 'float32'"):
        pyrnn.Bidirectional(pyrnn.GRU(*wf, compute_type="int8"), pyrnn.GRU(*wb, go_backwards=True))


def test_from_config_takes_compute_type():
    rng = np.random.default_rng(0)
    w = make_weights("LSTM", 3, 4, rng)
    lstm = pyrnn.LSTM.from_config({"units": 4, "name": "l"}, w, compute_type="fp16")
    assert lstm.compute_type == "float16"
    np.testing.assert_array_equal(lstm.get_weights()[1], w[1])  # the float32 weights given, unrounded


# -- bfloat16 / float16: the float64 oracle with rounded weights --------------------------

# (kind, reset_after, input_dim, units, options): input_dim <= 16 and > 16 take different
# native paths; units below, at and off multiples of 16, and one case above 256.
WEIGHT_ONLY_CASES = [
    ("SimpleRNN", True, 33, 50, dict(mask="holes")),
    ("SimpleRNN", True, 1, 16, dict(go_backwards=True)),
    ("LSTM", True, 33, 50, dict(mask="right")),
    ("LSTM", True, 1, 19, dict(go_backwards=True, mask="left")),
    ("LSTM", True, 5, 257, dict()),
    ("LSTM", True, 7, 32, dict(use_bias=False, state=True)),
    ("GRU", True, 33, 50, dict(mask="holes", go_backwards=True)),
    ("GRU", True, 1, 17, dict(use_bias=False)),
    ("GRU", False, 33, 50, dict(mask="holes")),
    ("GRU", False, 4, 64, dict(go_backwards=True, state=True)),
]


def _case_id(case):
    kind, reset_after, d, h, opts = case
    name = {"SimpleRNN": "simple", "LSTM": "lstm", "GRU": "gru" if reset_after else "gru_v1"}[kind]
    return f"{name}-d{d}-h{h}" + "".join(f"-{k}" + (f"={v}" if not isinstance(v, bool) else "")
                                         for k, v in opts.items())


def _case_inputs(case, seed):
    kind, reset_after, d, h, opts = case
    rng = np.random.default_rng(seed)
    B, T = (2, 9) if h > 200 else (5, 13)
    w = make_weights(kind, d, h, rng, reset_after=reset_after, use_bias=opts.get("use_bias", True))
    x = rng.normal(size=(B, T, d)).astype(np.float32)
    mask = make_mask(opts.get("mask"), B, T, rng)
    init = None
    if opts.get("state"):
        init = [rng.normal(size=(B, h)).astype(np.float32) for _ in range(2 if kind == "LSTM" else 1)]
    return w, x, mask, init


ROUNDING_SHOWS = {"bfloat16": 1e-4, "float16": 2e-5}


@pytest.mark.parametrize("ctype", ["bfloat16", "float16"])
@pytest.mark.parametrize("case", WEIGHT_ONLY_CASES, ids=[_case_id(c) for c in WEIGHT_ONLY_CASES])
def test_weight_only_types_match_the_oracle_with_rounded_weights(case, ctype):
    kind, reset_after, _, _, opts = case
    w, x, mask, init = _case_inputs(case, 3)
    flags = dict(return_sequences=True, return_state=True, go_backwards=opts.get("go_backwards", False))
    ref = oracle.rnn(kind, x, *w, reset_after=reset_after, mask=mask, initial_state=init, compute_type=ctype,
                     **flags)
    exact = oracle.rnn(kind, x, *w, reset_after=reset_after, mask=mask, initial_state=init, **flags)
    lyr = layer(kind, w, reset_after, compute_type=ctype, **flags)
    for tier in each_tier():
        got = lyr(x, initial_state=init, mask=mask)
        assert_parity(got, ref)
        # ... and the rounding really happened: float32 weights give another answer, further
        # from this one than the contract's tolerance.
        assert rel_err(got[0], exact[0]) > ROUNDING_SHOWS[ctype], tier


@pytest.mark.parametrize("ctype", ["bfloat16", "float16"])
@pytest.mark.parametrize("kind,reset_after", KINDS, ids=KIND_IDS)
def test_weight_only_bidirectional(kind, reset_after, ctype):
    rng = np.random.default_rng(11)
    D, H, B, T = 20, 24, 4, 10
    wf = make_weights(kind, D, H, rng, reset_after=reset_after)
    wb = make_weights(kind, D, H, rng, reset_after=reset_after)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    mask = make_mask("holes", B, T, rng)
    opts = dict(return_sequences=True, return_state=True)
    bi = pyrnn.Bidirectional(layer(kind, wf, reset_after, compute_type=ctype, **opts),
                             layer(kind, wb, reset_after, go_backwards=True, compute_type=ctype, **opts),
                             merge_mode="concat")
    ref = oracle.bidirectional(kind, x, oracle.round_weights(wf, ctype), oracle.round_weights(wb, ctype),
                               mask=mask, reset_after=reset_after, **opts)
    for _ in each_tier():
        assert_parity(bi(x, mask=mask), ref)


# -- int8: the oracle step by step ----------------------------------------------------------

INT8_CASES = [
    ("SimpleRNN", True, 33, 50, dict(mask="holes")),
    ("SimpleRNN", True, 1, 20, dict(go_backwards=True)),
    ("LSTM", True, 33, 50, dict(mask="right")),
    ("LSTM", True, 1, 19, dict(go_backwards=True)),
    ("LSTM", True, 6, 16, dict(use_bias=False, state=True)),
    ("LSTM", True, 5, 257, dict()),
    ("GRU", True, 33, 50, dict(mask="holes", go_backwards=True)),
    ("GRU", True, 1, 17, dict(use_bias=False)),
    ("GRU", False, 33, 50, dict(mask="left")),
    ("GRU", False, 4, 64, dict(go_backwards=True, state=True)),
]


@pytest.mark.parametrize("case", INT8_CASES, ids=[_case_id(c) for c in INT8_CASES])
def test_int8_steps_match_the_oracle(case):
    """Runs the sequence one step per call (return_state carries h, c between calls), and
    compares each step's states with one oracle step from the same float32 states. The
    chained calls give the whole-sequence call's bits (integer dot products, no batch or
    length dependence)."""
    kind, reset_after, _, _, opts = case
    w, x, mask, init = _case_inputs(case, 5)
    B, T, _ = x.shape
    n = 2 if kind == "LSTM" else 1
    backwards = opts.get("go_backwards", False)
    flags = dict(return_state=True, go_backwards=backwards)
    int8 = layer(kind, w, reset_after, compute_type="int8", **flags)
    fp32 = layer(kind, w, reset_after, **flags)
    m = np.ones((B, T), bool) if mask is None else mask
    for _ in each_tier():
        states = init if init is not None else [np.zeros((B, w[1].shape[0]), np.float32) for _ in range(n)]
        worst = gap = 0.0
        for t in (range(T - 1, -1, -1) if backwards else range(T)):
            step = dict(initial_state=states, mask=m[:, t:t + 1])
            got = int8(x[:, t:t + 1], **step)[1:]
            ref = oracle.rnn(kind, x[:, t:t + 1], *w, reset_after=reset_after, mask=m[:, t:t + 1],
                             initial_state=states, return_state=True, compute_type="int8")[1:]
            worst = max(worst, max(rel_err(g, r) for g, r in zip(got, ref)))
            gap = max(gap, max(rel_err(g, r) for g, r in zip(fp32(x[:, t:t + 1], **step)[1:], ref)))
            states = got
        assert worst <= 1e-5, f"int8 step error {worst:.3g}"
        assert gap > 100 * 1e-5, f"float32 is only {gap:.3g} from the int8 oracle: the test cannot tell them apart"
        whole = int8(x, initial_state=init, mask=mask)[1:]
        for a, b in zip(whole, states):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind,reset_after", KINDS, ids=KIND_IDS)
def test_int8_sequences_stay_close_to_float32(kind, reset_after):
    """A whole sequence (30 steps): int8 within 6e-2 of float32 on these weights (measured
    on the AVX-512 tier: 7e-3 LSTM, 1.3e-2 GRU, 1.4e-2 GRU v1, 3.2e-2 SimpleRNN, whose
    tanh state feeds back undamped), and clearly not equal to it."""
    rng = np.random.default_rng(2)
    w = make_weights(kind, 12, 40, rng, reset_after=reset_after)
    x = rng.normal(size=(8, 30, 12)).astype(np.float32)
    a = layer(kind, w, reset_after, return_sequences=True, compute_type="int8")(x)
    b = layer(kind, w, reset_after, return_sequences=True)(x)
    assert 1e-3 < rel_err(a, b) < 6e-2


def test_int8_bidirectional_matches_its_halves():
    rng = np.random.default_rng(4)
    wf, wb = make_weights("LSTM", 9, 21, rng), make_weights("LSTM", 9, 21, rng)
    x = rng.normal(size=(3, 8, 9)).astype(np.float32)
    mask = make_mask("holes", 3, 8, rng)
    f = pyrnn.LSTM(*wf, return_sequences=True, return_state=True, compute_type="int8")
    b = pyrnn.LSTM(*wb, return_sequences=True, return_state=True, go_backwards=True, compute_type="int8")
    yf, hf, cf = f(x, mask=mask)
    yb, hb, cb = b(x, mask=mask)
    yf, yb = np.where(mask[..., None], yf, 0), np.where(mask[..., None], yb[:, ::-1], 0)
    got = pyrnn.Bidirectional(f, b, merge_mode="sum")(x, mask=mask)
    np.testing.assert_array_equal(got[0], yf + yb)
    for g, r in zip(got[1:], (hf, cf, hb, cb)):
        np.testing.assert_array_equal(g, r)


# -- batch, thread and tier invariance -------------------------------------------------------


@pytest.mark.parametrize("ctype", REDUCED)
@pytest.mark.parametrize("kind,reset_after", KINDS, ids=KIND_IDS)
def test_rows_do_not_depend_on_the_batch(kind, reset_after, ctype, threads):
    rng = np.random.default_rng(6)
    w = make_weights(kind, 33, 50, rng, reset_after=reset_after)
    x = rng.normal(size=(64, 12, 33)).astype(np.float32)
    mask = make_mask("holes", 64, 12, rng)
    lyr = layer(kind, w, reset_after, return_sequences=True, return_state=True, compute_type=ctype)
    threads(2)
    for _ in each_tier():
        whole = lyr(x, mask=mask)
        for i in (0, 1, 17, 63):
            alone = lyr(x[i:i + 1], mask=mask[i:i + 1])
            for a, b in zip(whole, alone):
                np.testing.assert_array_equal(a[i:i + 1], b)


# Batches from 1 row (split across threads by units, as a team) to many (split by rows).
THREAD_CASES = [("LSTM", 1, 120, 1), ("GRU", 12, 150, 7), ("SimpleRNN", 12, 70, 37), ("GRU_v1", 33, 64, 3)]


@pytest.mark.parametrize("ctype", REDUCED)
@pytest.mark.parametrize("kind,features,units,batch", THREAD_CASES, ids=lambda v: str(v))
def test_results_identical_for_any_thread_count(kind, features, units, batch, ctype, threads):
    rng = np.random.default_rng(batch)
    reset_after = kind != "GRU_v1"
    kind = kind.split("_")[0]
    w = make_weights(kind, features, units, rng, reset_after=reset_after)
    x = rng.normal(size=(batch, 25, features)).astype(np.float32)
    mask = rng.random((batch, 25)) > 0.2
    lyr = layer(kind, w, reset_after, return_sequences=True, return_state=True, compute_type=ctype)
    bi = pyrnn.Bidirectional(layer(kind, w, reset_after, return_sequences=True, compute_type=ctype),
                             layer(kind, w, reset_after, return_sequences=True, go_backwards=True,
                                   compute_type=ctype))
    for _ in each_tier():
        results = []
        for n in (1, 2, 3, 8):
            threads(n)
            results.append((lyr(x, mask=mask), bi(x, mask=mask)))
        for got in results[1:]:
            for a, b in zip(got[0], results[0][0]):
                np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(got[1], results[0][1])


@pytest.mark.skipif(len(TIERS) < 2, reason="one ISA tier on this CPU")
@pytest.mark.parametrize("ctype", REDUCED)
def test_tiers_agree(ctype):
    """Every tier computes the same contract: bfloat16/float16 differ across tiers only
    by float32 rounding (as float32 does); int8's integer dot products are exact, so its
    tiers differ by the float32 rounding of the gates, and a state near a quantization
    boundary (rare: short sequences here)."""
    rng = np.random.default_rng(8)
    outs = []
    for kind, reset_after in KINDS:
        w = make_weights(kind, 20, 36, rng, reset_after=reset_after)
        x = rng.normal(size=(4, 6, 20)).astype(np.float32)
        lyr = layer(kind, w, reset_after, return_sequences=True, compute_type=ctype)
        outs.append([lyr(x) for _ in each_tier()])
    for per_tier in outs:
        for other in per_tier[1:]:
            assert rel_err(other, per_tier[0]) <= 1e-5


@pytest.mark.skipif("avx512" not in TIERS or not _core.vnni_available(), reason="needs AVX512_VNNI")
@pytest.mark.parametrize("kind,reset_after", KINDS, ids=KIND_IDS)
def test_int8_kernels_give_the_same_bits(kind, reset_after):
    """On the avx512 tier int8 uses AMX tiles for blocks of 16 rows where the CPU and OS allow
    it, vpdpbusd (AVX512_VNNI) where the CPU has it, else vpmaddubsw + vpmaddwd: all sum the
    same integers exactly. 41 rows: AMX's blocks of 32 and 16 rows plus a rest."""
    rng = np.random.default_rng(10)
    w = make_weights(kind, 33, 50, rng, reset_after=reset_after)
    x = rng.normal(size=(41, 15, 33)).astype(np.float32)
    mask = make_mask("holes", 41, 15, rng)
    lyr = layer(kind, w, reset_after, return_sequences=True, return_state=True, compute_type="int8")
    previous = _core.current_isa()
    _core.set_isa("avx512")
    runs = []
    try:
        if _core.amx_available():
            assert "AMX" in dict(_core.compute_types())["int8"]
            runs.append(lyr(x, mask=mask))
            _core._set_amx(False)
        assert "vpdpbusd" in dict(_core.compute_types())["int8"]
        runs.append(lyr(x, mask=mask))
        _core._set_vnni(False)
        assert "vpdpbusd" not in dict(_core.compute_types())["int8"]
        runs.append(lyr(x, mask=mask))
    finally:
        _core._set_vnni(True)
        _core._set_amx(True)
        _core.set_isa(previous)
    for other in runs[1:]:
        for a, b in zip(other, runs[0]):
            np.testing.assert_array_equal(a, b)


def test_compute_types_describe_the_tier_in_use():
    for tier in each_tier():
        types = dict(_core.compute_types())
        assert {"bfloat16", "float16", "int8"} <= set(types) <= set(pyrnn.COMPUTE_TYPES)
        assert all(tier in d for d in types.values()), types
        assert pyrnn.config()["compute_types"] == types


def test_show_config_lists_the_compute_types(capsys):
    cfg = pyrnn.show_config()
    out = capsys.readouterr().out
    assert "compute types" in out
    for name, description in cfg["compute_types"].items():
        assert f"{name:<16} : {description}" in out


def test_forced_tier_runs_its_int8_kernel():
    """PYRNN_ISA picks the tier whose kernels (and compute-type descriptions) are used; the
    int8 result of each forced tier matches the in-process one of that tier."""
    rng = np.random.default_rng(9)
    w = make_weights("GRU", 24, 33, rng)
    x = rng.normal(size=(3, 7, 24)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(os.path.join(tmp, "case.npz"), *w, x)
        code = ("import numpy as np, pyrnn, sys\n"
                "d = np.load('case.npz'); k, r, b, x = (d[f'arr_{i}'] for i in range(4))\n"
                "y = pyrnn.GRU(k, r, b, return_sequences=True, compute_type='int8')(x)\n"
                "np.save('y.npy', y); print(pyrnn.config()['compute_types']['int8'])\n")
        lyr = pyrnn.GRU(*w, return_sequences=True, compute_type="int8")
        for tier in each_tier():
            env = dict(os.environ, PYRNN_ISA=tier)
            r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp,
                               timeout=120)
            assert r.returncode == 0, r.stderr
            assert r.stdout.strip().startswith(tier)
            np.testing.assert_array_equal(np.load(os.path.join(tmp, "y.npy")), lyr(x))


# -- models: load, streams, pickles, summary, CLI --------------------------------------------


@pytest.fixture(scope="module")
def demo_x():
    return np.load(DEMO_X)


@pytest.mark.parametrize("ctype", REDUCED)
def test_model_keeps_its_compute_type_through_stream_and_pickle(ctype, demo_x):
    model = pyrnn.load(DEMO, compute_type=ctype.upper())
    exact = pyrnn.load(DEMO)
    assert model.compute_type == ctype and exact.compute_type == "float32"
    y, y32 = model.predict(demo_x), exact.predict(demo_x)
    assert rel_err(y, y32) > 1e-5  # the reduced type ran
    # a stream steps through the same layers
    stream = model.stream(batch_size=len(demo_x))
    assert stream.compute_type == ctype and ctype in repr(stream)
    assert_parity(stream.feed(demo_x), y)
    # pickles (and so multiprocessing workers) rebuild the same arithmetic
    again = pickle.loads(pickle.dumps(model))
    assert again.compute_type == ctype
    np.testing.assert_array_equal(again.predict(demo_x), y)
    assert model.profile(demo_x[:4], repeats=1).to_dict()["compute_type"] == ctype


def test_summary_and_repr_show_the_compute_type(demo_x):
    lines = []
    pyrnn.load(DEMO, compute_type="bf16").summary(print_fn=lines.append)
    assert lines[1] == "Compute type: bfloat16 (recurrent layers; every other layer float32)"
    lines = []
    pyrnn.load(DEMO).summary(print_fn=lines.append)
    assert lines[1] == "Compute type: float32 (Keras-exact)"
    assert "compute_type 'int8'" in repr(pyrnn.load(DEMO, compute_type="int8"))
    assert "compute_type 'float32'" in repr(pyrnn.load(DEMO))


def test_float16_overflow_in_a_model_names_file_and_layer(tmp_path):
    keras = pytest.importorskip("keras")
    from conftest import save_model

    model = keras.Sequential([keras.Input((4, 2)), keras.layers.GRU(3, name="enc"), keras.layers.Dense(1)])
    weights = model.get_weights()
    weights[1][0, 0] = -7e4
    model.set_weights(weights)
    path = save_model(model, tmp_path / "big.keras")
    with pytest.raises(ValueError, match=r"big.keras: layer 'enc' \(GRU\): GRU 'enc': float16 cannot hold the "
                                         r"weight value -(7e\+04|70000)") as info:
        pyrnn.load(path, compute_type="float16")
    assert not isinstance(info.value, pyrnn.ModelFormatError)  # the file is fine
    assert pyrnn.load(path, compute_type="bfloat16").compute_type == "bfloat16"


def test_cli_info_predict_and_bench_take_compute_type(tmp_path, capsys):
    from pyrnn import cli

    assert cli.main(["info", DEMO, "--compute-type", "fp16"]) == 0
    assert "Compute type: float16" in capsys.readouterr().out
    out = tmp_path / "y.npy"
    assert cli.main(["predict", DEMO, DEMO_X, "-o", str(out), "--compute-type", "int8"]) == 0
    capsys.readouterr()
    np.testing.assert_array_equal(np.load(out), pyrnn.load(DEMO, compute_type="int8").predict(np.load(DEMO_X)))
    assert cli.main(["bench", DEMO, "--batch-sizes", "1", "--json", "--compute-type", "bf16"]) == 0
    import json

    assert json.loads(capsys.readouterr().out)["compute_type"] == "bfloat16"
    assert cli.main(["bench", DEMO, "--batch-sizes", "1", "--compute-type", "int8"]) == 0
    assert "compute type: int8" in capsys.readouterr().out
    assert cli.main(["info", DEMO, "--compute-type", "fp64"]) == 1
    assert "pyrnn: error: pyrnn.load: unknown compute_type 'fp64'" in capsys.readouterr().err


def test_batch_predictor_takes_compute_type_for_a_path(demo_x):
    pred = pyrnn.BatchPredictor(DEMO, compute_type="int8")
    assert pred.compute_type == "int8" and pred.model.compute_type == "int8" and "int8" in repr(pred)
    y = pyrnn.load(DEMO, compute_type="int8").predict(demo_x)
    np.testing.assert_array_equal(pred(demo_x), y)
    again = pickle.loads(pickle.dumps(pred))
    assert again.compute_type == "int8"
    np.testing.assert_array_equal(again(demo_x), y)
    # the same file in float32 is another model in the per-process cache
    assert pyrnn.BatchPredictor(DEMO).model.compute_type == "float32"
    model = pyrnn.load(DEMO, compute_type="bf16")
    assert pyrnn.BatchPredictor(model).compute_type == "bfloat16"
    with pytest.raises(ValueError, match="computes in bfloat16, not int8"):
        pyrnn.BatchPredictor(model, compute_type="int8")


def test_from_keras_objects_take_compute_type():
    """Live Keras layers and models: the layer classes' and pyrnn.from_keras's compute_type."""
    from conftest import keras_module

    keras = keras_module(3)
    rng = np.random.default_rng(12)
    x = rng.normal(size=(3, 9, 5)).astype(np.float32)
    lstm = keras.layers.LSTM(18, return_sequences=True)
    lstm.build((None, None, 5))
    lstm.set_weights(make_weights("LSTM", 5, 18, rng))
    got = pyrnn.LSTM.from_keras(lstm, compute_type="bf16")
    assert got.compute_type == "bfloat16"
    assert_parity(got(x), oracle.rnn("LSTM", x, *lstm.get_weights(), return_sequences=True, compute_type="bfloat16"))
    bi = keras.layers.Bidirectional(keras.layers.GRU(7))
    bi.build((None, None, 5))
    assert pyrnn.Bidirectional.from_keras(bi, compute_type="int8").compute_type == "int8"
    model = keras.Sequential([keras.Input((9, 5)), keras.layers.TimeDistributed(keras.layers.Dense(4)),
                              keras.layers.Bidirectional(keras.layers.GRU(7)), keras.layers.Dense(2)])
    converted = pyrnn.from_keras(model, compute_type="fp16")
    assert converted.compute_type == "float16"
    assert 1e-7 < rel_err(converted.predict(x), np.asarray(model(x))) < 2e-3
    with pytest.raises(ValueError, match="pyrnn.from_keras: unknown compute_type 'float64'"):
        pyrnn.from_keras(model, compute_type="float64")
