"""``pyrnn selftest``: a parity smoke test of an installed pyrnn, without TensorFlow.

Builds SimpleRNN, LSTM and GRU layers (both GRU variants, with and without masks, backwards,
Bidirectional) from fixed random weights and compares what they return, on every ISA tier
this CPU runs, with a float64 numpy reference written from the Keras equations (a
self-contained copy of the one in tests/oracle.py, tanh/sigmoid only). The reduced compute
types are checked too: bfloat16 and float16 against the reference with rounded weights,
int8 one step at a time against the reference's quantized matmuls (README "Reduced
precision"). It is what the wheel builds (cibuildwheel's test-command,
.ci/wheel_check.sh) run on each platform.

Exit status 0 when every case is within the parity contract (max|a-b| / max(1, max|b|)
<= 1e-5), 1 otherwise.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

TOL = 1e-5
GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}
#: Input kernels of at most this many input features stay float32 in every compute type.
NARROW_INPUTS = 16


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _int8_matmul(a: np.ndarray, M: np.ndarray) -> np.ndarray:
    """``a @ M`` under compute_type="int8": int8 weights per column, 7-bit rows, exact sums."""
    M32, a32 = np.asarray(M, np.float32), np.asarray(a, np.float32)
    sw = np.abs(M32).max(axis=0) / np.float32(127)
    qw = np.clip(np.where(sw == 0, 0, np.rint(M32 / np.where(sw == 0, np.float32(1), sw))), -127, 127)
    amax = np.abs(a32).max(axis=1, keepdims=True)
    inv = np.float32(63) / np.where(amax == 0, np.float32(1), amax)
    qa = np.clip(np.where(amax == 0, np.float32(0), np.rint(a32 * inv)), -63, 63)
    acc = (qa.astype(np.int64) @ qw.astype(np.int64)).astype(np.float32)
    return (acc * ((amax / np.float32(63)) * sw[None, :])).astype(np.float64)


def _round(w: np.ndarray, compute_type: str) -> np.ndarray:
    """A kernel matrix rounded to bfloat16 / float16 (ties to even), as float32."""
    w = np.ascontiguousarray(w, np.float32)
    if compute_type == "float16":
        return w.astype(np.float16).astype(np.float32)
    u = w.view(np.uint32).astype(np.uint64)
    return (((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)).view(np.float32)


def _cell(kind: str, x_t: np.ndarray, states: List[np.ndarray], W: np.ndarray, U: np.ndarray,
          b: Optional[np.ndarray], reset_after: bool, mm: Any = np.matmul, mmx: Any = None) -> List[np.ndarray]:
    mmx = mmx or mm  # the input projection's matmul (float32 for narrow inputs)
    H = U.shape[0]
    if kind == "SimpleRNN":
        h = np.tanh(mmx(x_t, W) + (0.0 if b is None else b) + mm(states[0], U))
        return [h]
    if kind == "LSTM":
        h_prev, c_prev = states
        z = mmx(x_t, W) + mm(h_prev, U) + (0.0 if b is None else b)
        i, f, g, o = _sigmoid(z[:, :H]), _sigmoid(z[:, H:2 * H]), np.tanh(z[:, 2 * H:3 * H]), _sigmoid(z[:, 3 * H:])
        c = f * c_prev + i * g
        return [o * np.tanh(c), c]
    h_prev = states[0]
    if reset_after:
        xz = mmx(x_t, W) + (0.0 if b is None else b[0])
        hz = mm(h_prev, U) + (0.0 if b is None else b[1])
        z = _sigmoid(xz[:, :H] + hz[:, :H])
        r = _sigmoid(xz[:, H:2 * H] + hz[:, H:2 * H])
        hh = np.tanh(xz[:, 2 * H:] + r * hz[:, 2 * H:])
    else:
        xz = mmx(x_t, W) + (0.0 if b is None else b)
        hu = mm(h_prev, U[:, :2 * H])
        z = _sigmoid(xz[:, :H] + hu[:, :H])
        r = _sigmoid(xz[:, H:2 * H] + hu[:, H:])
        hh = np.tanh(xz[:, 2 * H:] + mm(r * h_prev, U[:, 2 * H:]))
    return [z * h_prev + (1.0 - z) * hh]


def oracle(kind: str, x: np.ndarray, weights: Sequence[np.ndarray], *, reset_after: bool = True,
           go_backwards: bool = False, mask: Optional[np.ndarray] = None,
           zero_output_for_mask: bool = False, compute_type: str = "float32",
           initial_state: Optional[Sequence[np.ndarray]] = None) -> List[np.ndarray]:
    """Keras semantics in float64: [sequence output (B, T, H), *final states], computed as
    ``compute_type`` defines it."""
    mm: Any = np.matmul
    mmx: Any = np.matmul
    wide = np.shape(weights[0])[0] > NARROW_INPUTS  # narrow input kernels stay float32
    if compute_type in ("bfloat16", "float16"):
        kernel = _round(weights[0], compute_type) if wide else weights[0]
        weights = [kernel, _round(weights[1], compute_type), *weights[2:]]
    elif compute_type == "int8":
        mm = _int8_matmul
        mmx = _int8_matmul if wide else np.matmul
    W, U = (np.asarray(w, np.float64) for w in weights[:2])
    b = np.asarray(weights[2], np.float64) if len(weights) > 2 else None
    B, T, _ = x.shape
    H = U.shape[0]
    states = ([np.asarray(s, np.float64) for s in initial_state] if initial_state is not None
              else [np.zeros((B, H)) for _ in range(2 if kind == "LSTM" else 1)])
    m = np.ones((B, T), bool) if mask is None else mask
    prev = np.zeros((B, H))
    outs = []
    for t in (range(T - 1, -1, -1) if go_backwards else range(T)):
        new = _cell(kind, np.asarray(x[:, t], np.float64), states, W, U, b, reset_after, mm, mmx)
        valid = m[:, t][:, None]
        states = [np.where(valid, n, s) for n, s in zip(new, states)]
        outs.append(np.where(valid, new[0], np.zeros_like(prev) if zero_output_for_mask else prev))
        prev = np.where(valid, new[0], prev)
    return [np.stack(outs, axis=1), *states]


def _weights(kind: str, d: int, h: int, rng: np.random.Generator, reset_after: bool = True) -> List[np.ndarray]:
    g = GATES[kind]
    a = np.sqrt(6.0 / (d + g * h))
    rec_scale = 0.6 if kind == "SimpleRNN" else 1.0
    bias_shape = (2, g * h) if kind == "GRU" and reset_after else (g * h,)
    return [
        rng.uniform(-a, a, size=(d, g * h)).astype(np.float32),
        (rng.normal(size=(h, g * h)) * (rec_scale / np.sqrt(h))).astype(np.float32),
        rng.uniform(-0.5, 0.5, size=bias_shape).astype(np.float32),
    ]


def _err(got: Any, ref: np.ndarray) -> float:
    got = np.asarray(got, np.float64)
    if got.shape != ref.shape:
        return float("inf")
    return float(np.max(np.abs(got - ref)) / max(1.0, float(np.max(np.abs(ref)))))


def _cases() -> List[Dict[str, Any]]:
    cases = []
    for kind, reset_after in (("SimpleRNN", True), ("LSTM", True), ("GRU", True), ("GRU", False)):
        for units in (7, 32, 65):
            for masked, backwards in ((False, False), (True, False), (True, True)):
                cases.append(dict(kind=kind, reset_after=reset_after, units=units, masked=masked,
                                  backwards=backwards, bidirectional=False))
        cases.append(dict(kind=kind, reset_after=reset_after, units=17, masked=True, backwards=False,
                          bidirectional=True))
        # Reduced precision: inputs wider than 16 (the kernels' other input path), odd units.
        for compute_type in ("bfloat16", "float16", "int8"):
            cases.append(dict(kind=kind, reset_after=reset_after, units=33, masked=True, backwards=False,
                              bidirectional=False, compute_type=compute_type, features=20))
    return cases


def _run_case(pyrnn: Any, case: Dict[str, Any], seed: int) -> float:
    rng = np.random.default_rng(seed)
    kind, units, reset_after = case["kind"], case["units"], case["reset_after"]
    compute_type = case.get("compute_type", "float32")
    B, T, D = 3, 12, case.get("features", 5)
    if compute_type == "int8":
        # One step from given states: quantizing identical float32 inputs, pyrnn and the
        # reference agree to float32 rounding (over many steps, a float64 state can round
        # to the other side of a quantization step than pyrnn's float32 one).
        T = 1
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    mask = rng.random((B, T)) > 0.3 if case["masked"] else None
    if mask is not None:
        mask[0] = False  # a fully masked row
    cls = getattr(pyrnn, kind)
    extra = {"reset_after": reset_after} if kind == "GRU" else {}
    opts = dict(return_sequences=True, return_state=True, **extra)
    wf = _weights(kind, D, units, rng, reset_after)
    if not case["bidirectional"]:
        init = None if compute_type == "float32" else \
            [rng.normal(size=(B, units)).astype(np.float32) * 0.5 for _ in range(2 if kind == "LSTM" else 1)]
        layer = cls(*wf, go_backwards=case["backwards"], compute_type=compute_type, **opts)
        got = layer(x, mask=mask, initial_state=init)
        ref = oracle(kind, x, wf, reset_after=reset_after, go_backwards=case["backwards"], mask=mask,
                     compute_type=compute_type, initial_state=init)
        return max(_err(g, r) for g, r in zip(got, ref)) if len(got) == len(ref) else float("inf")
    wb = _weights(kind, D, units, rng, reset_after)
    bi = pyrnn.Bidirectional(cls(*wf, **opts), cls(*wb, go_backwards=True, **opts), merge_mode="concat")
    got = bi(x, mask=mask)
    yf, *sf = oracle(kind, x, wf, reset_after=reset_after, mask=mask, zero_output_for_mask=True)
    yb, *sb = oracle(kind, x, wb, reset_after=reset_after, go_backwards=True, mask=mask, zero_output_for_mask=True)
    ref = [np.concatenate([yf, yb[:, ::-1]], axis=-1), *sf, *sb]
    return max(_err(g, r) for g, r in zip(got, ref)) if len(got) == len(ref) else float("inf")


def run(verbose: bool = True) -> int:
    """Runs every case on every supported tier; prints a summary; returns the exit status."""
    import pyrnn
    from pyrnn import _core

    cfg = pyrnn.config()
    if verbose:
        print(f"pyrnn {cfg['version']} selftest on {cfg['platform']} ({cfg['python']}), "
              f"built for {cfg['built_for']} with {cfg['compiler']}")
    previous = _core.current_isa()
    worst: Dict[str, float] = {}
    failures = []
    t0 = time.perf_counter()
    try:
        for tier in _core.supported_isas():
            _core.set_isa(tier)
            worst[tier] = 0.0
            for seed, case in enumerate(_cases()):
                try:
                    err = _run_case(pyrnn, case, seed)
                except Exception as exc:  # noqa: BLE001 - a crash is a failure to report, not to hide
                    err = float("inf")
                    case = dict(case, error=f"{type(exc).__name__}: {exc}")
                worst[tier] = max(worst[tier], err)
                if not err <= TOL:
                    failures.append((tier, case, err))
    finally:
        _core.set_isa(previous)
    n = len(_cases())
    if verbose:
        for tier, err in worst.items():
            print(f"  {tier:8s}: {n} layer cases, worst relative error {err:.2e} (contract {TOL:g})")
        for tier, case, err in failures[:10]:
            print(f"  FAIL {tier}: {case} error {err:.3g}")
        print(f"selftest {'passed' if not failures else 'FAILED'} in {time.perf_counter() - t0:.1f} s")
    return 1 if failures else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    return run(verbose="-q" not in (argv if argv is not None else sys.argv[1:]))


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
