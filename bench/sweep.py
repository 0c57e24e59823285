"""Hidden-size sweep: one LSTM layer, pyrnn against PyTorch and the same-ISA GEMM peak.

    python bench/sweep.py [--isa avx2] [--hs 64,128,256,512,1024,2048] [--bs 1,8,32,64,256]
                          [--T 8] [--D 32] [--rounds 3] [--only-pyrnn] [--out bench/results]

For each hidden size H and batch B: GFLOP/s (2 * 4 * B * T * H * (H + D) flop per call)
of pyrnn on the tier in use (PYRNN_ISA; --isa sets it) and of PyTorch nn.LSTM (same
weights, torch.set_num_threads(2)), timed interleaved in this one process (min of
`rounds` rounds of a few calls each), plus the rate of the step's own GEMM (B x H @ H x 4H,
best of numpy and PyTorch) and of a 2048^3 sgemm: the same-ISA GEMM peak. With --isa avx2
the peers are restricted to AVX2 too (ONEDNN_MAX_CPU_ISA=AVX2, MKL_ENABLE_INSTRUCTIONS=AVX2,
OPENBLAS_CORETYPE=Haswell), set before they load. Writes sweep[-TIER].md and .png to --out.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from _machine import apply_isa, cpu_name  # (bench/, the script's own folder)

apply_isa(sys.argv[1:])  # before pyrnn and the peers load

import numpy as np  # noqa: E402

import pyrnn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def best_time(fn, calls: int) -> float:
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - t0) / calls


def weights(H: int, D: int, rng):
    a = np.sqrt(6.0 / (D + 4 * H))
    k = rng.uniform(-a, a, size=(D, 4 * H)).astype(np.float32)
    r = (rng.normal(size=(H, 4 * H)) / np.sqrt(H)).astype(np.float32)
    b = rng.uniform(-0.5, 0.5, size=(4 * H,)).astype(np.float32)
    return k, r, b


def torch_lstm(torch, k, r, b):
    D, H = k.shape[0], r.shape[0]
    m = torch.nn.LSTM(D, H, batch_first=True)
    m.weight_ih_l0.data = torch.from_numpy(k.T.copy())
    m.weight_hh_l0.data = torch.from_numpy(r.T.copy())
    m.bias_ih_l0.data = torch.from_numpy(b.copy())
    m.bias_hh_l0.data = torch.zeros(4 * H)

    @torch.inference_mode()
    def run(x):
        return m(torch.from_numpy(x))[0].numpy()

    return run


def gemm_rate(torch, M: int, K: int, N: int, reps: int = 5) -> float:
    rng = np.random.default_rng(3)
    a = rng.normal(size=(M, K)).astype(np.float32)
    b = rng.normal(size=(K, N)).astype(np.float32)
    fns = [lambda: a @ b]
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        fns.append(lambda: torch.mm(ta, tb))
    fl = 2.0 * M * K * N
    calls = max(1, int(2e8 / fl))
    best = 0.0
    for fn in fns:
        fn()
        for _ in range(reps):
            best = max(best, fl / best_time(fn, calls) / 1e9)
    return best


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--isa", default=None)
    p.add_argument("--hs", default="64,128,256,512,1024,2048")
    p.add_argument("--bs", default="1,8,32,64,256")
    p.add_argument("--T", type=int, default=8)
    p.add_argument("--D", type=int, default=32)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--only-pyrnn", action="store_true", help="skip the peers and the peak (before/after runs)")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args(argv)
    hs = [int(v) for v in args.hs.split(",")]
    bs = [int(v) for v in args.bs.split(",")]
    torch = None
    if not args.only_pyrnn:
        try:
            import torch

            torch.set_num_threads(2)
        except ImportError:
            print("PyTorch not installed: no peer", file=sys.stderr)
    pyrnn.set_num_threads(2)
    tier = pyrnn.config()["isa"]
    print(f"{cpu_name()}, pyrnn tier {tier}, 2 threads", flush=True)
    peak = 0.0 if args.only_pyrnn else gemm_rate(torch, 2048, 2048, 2048, reps=3)
    rows = []
    rng = np.random.default_rng(0)
    for H in hs:
        k, r, b = weights(H, args.D, rng)
        layer = pyrnn.LSTM(k, r, b, return_sequences=True)
        tl = torch_lstm(torch, k, r, b) if torch is not None else None
        for B in bs:
            x = rng.normal(size=(B, args.T, args.D)).astype(np.float32)
            fl = 2.0 * 4 * B * args.T * H * (H + args.D)
            calls = max(3, int(6e8 / fl))  # a timed block of one call would time a cold start
            runners = {"pyrnn": lambda layer=layer, x=x: layer(x)}
            if tl is not None:
                runners["torch"] = lambda tl=tl, x=x: tl(x)
                err = float(np.abs(layer(x) - tl(x)).max())
            else:
                err = float("nan")
            best = {n: float("inf") for n in runners}
            for fn in runners.values():
                fn()
            for _ in range(args.rounds):
                for n, fn in runners.items():
                    # Start each timed block on an idle process: PyTorch's OpenMP team keeps
                    # spinning for ~20 ms after a call and would slow whichever runner comes next.
                    time.sleep(0.05)
                    fn()  # and wakes this runner's own threads before its block
                    best[n] = min(best[n], best_time(fn, calls))
            step_gemm = 0.0 if args.only_pyrnn else gemm_rate(torch, B, H, 4 * H, reps=3)
            row = dict(H=H, B=B, pyrnn=fl / best["pyrnn"] / 1e9, ms=best["pyrnn"] * 1e3,
                       torch=fl / best["torch"] / 1e9 if "torch" in best else None, gemm=step_gemm, err=err)
            rows.append(row)
            t = f"{row['torch']:7.1f}" if row["torch"] else "      —"
            print(f"H={H:5d} B={B:4d}  pyrnn {row['pyrnn']:7.1f} GFLOP/s ({row['ms']:8.3f} ms)  torch {t}"
                  f"  step sgemm {step_gemm:6.1f}  |diff| {err:.1e}", flush=True)
    if args.only_pyrnn:
        return 0
    peak = max(peak, gemm_rate(torch, 2048, 2048, 2048, reps=3))  # before and after: the machine is shared
    write(args, rows, tier, peak, hs, bs)
    return 0


def write(args, rows, tier, peak, hs, bs) -> None:
    os.makedirs(args.out, exist_ok=True)
    stem = os.path.join(args.out, "sweep" if tier == "avx512" else f"sweep-{tier}")
    restricted = ""
    if tier == "avx2":
        restricted = " (peers restricted to AVX2: ONEDNN_MAX_CPU_ISA=AVX2, OPENBLAS_CORETYPE=Haswell)"
    lines = [
        f"Machine: {cpu_name()}, {os.cpu_count()} CPUs; pyrnn {pyrnn.__version__}, tier {tier}, 2 threads{restricted}.",
        f"One LSTM layer, T={args.T}, D={args.D}, return_sequences; GFLOP/s = 2·4·B·T·H·(H+D) / time, min of "
        f"{args.rounds} interleaved rounds. Peer: PyTorch nn.LSTM, set_num_threads(2). "
        f"Same-ISA GEMM peak (best of numpy and PyTorch sgemm 2048³, 2 threads, before and after): {peak:.0f} GFLOP/s; "
        "'step sgemm' is the same libraries on the step's own product (B×H @ H×4H).",
        "",
        "| H | B | pyrnn GFLOP/s | pyrnn ms | PyTorch GFLOP/s | pyrnn / PyTorch | step sgemm GFLOP/s | % of peak |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        ratio = f"{r['pyrnn'] / r['torch']:.2f}×" if r["torch"] else "—"
        tv = f"{r['torch']:.1f}" if r["torch"] else "—"
        lines.append(f"| {r['H']} | {r['B']} | {r['pyrnn']:.1f} | {r['ms']:.3f} | {tv} | {ratio} | {r['gemm']:.1f} | "
                     f"{100 * r['pyrnn'] / peak:.0f}% |")
    with open(stem + ".md", "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    fig, axes = plt.subplots(1, len(bs), figsize=(3.2 * len(bs), 3.4), sharey=True)
    axes = np.atleast_1d(axes)
    for ax, B in zip(axes, bs):
        sel = [r for r in rows if r["B"] == B]
        ax.plot([r["H"] for r in sel], [r["pyrnn"] for r in sel], "o-", label=f"pyrnn ({tier})")
        if any(r["torch"] for r in sel):
            ax.plot([r["H"] for r in sel], [r["torch"] or np.nan for r in sel], "s--", label="PyTorch")
        ax.axhline(peak, color="gray", lw=0.8, ls=":", label="sgemm peak")
        ax.set_xscale("log", base=2)
        ax.set_title(f"batch {B}")
        ax.set_xlabel("hidden size")
    axes[0].set_ylabel("GFLOP/s")
    axes[0].legend(fontsize=7)
    fig.suptitle(f"LSTM T={args.T}: {cpu_name()}, tier {tier}", fontsize=9)
    fig.tight_layout()
    fig.savefig(stem + ".png", dpi=100)


if __name__ == "__main__":
    sys.exit(main())
