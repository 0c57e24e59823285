"""pyrnn's CUDA layers against PyTorch's cuDNN LSTM/GRU on the same GPU.

    PYRNN_CUDA=1 pip install . && python bench/cuda_compare.py [--batches 1,8,64,512,4096]

Needs a CUDA build of pyrnn, a GPU and PyTorch with CUDA; exits with a message
otherwise. Both sides take host (numpy / CPU tensor) inputs and return host outputs,
so the copies are timed for both; TF32 is off for PyTorch. Prints a markdown table
(ratio = PyTorch time / pyrnn time) and writes bench/results/cuda_compare.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np

import pyrnn
from pyrnn import _core

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = [("LSTM", 50, 49, 1), ("LSTM", 256, 120, 33), ("GRU", 256, 120, 33)]


def timed(fn, budget=0.2, rounds=5):
    fn()
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < budget / 4:
        fn()
        n += 1
    n = max(1, n)
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(n):
            fn()
        out.append((time.perf_counter() - t0) / n)
    return statistics.median(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", default="1,8,64,512,4096")
    args = ap.parse_args(argv)
    if not _core.cuda_compiled or _core.cuda_device_count() == 0:
        print(f"needs a CUDA build of pyrnn and a GPU: {pyrnn.config()['cuda']}", file=sys.stderr)
        return 2
    try:
        import torch
    except ImportError:
        print("needs PyTorch with CUDA for the cuDNN peer", file=sys.stderr)
        return 2
    if not torch.cuda.is_available():
        print("PyTorch sees no GPU", file=sys.stderr)
        return 2
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    rows = [f"GPU: {_core.cuda_runtime_info()}; PyTorch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}.",
            "", "| layer | batch | pyrnn CUDA | PyTorch cuDNN | ratio | max rel. diff |", "|---|---|---|---|---|---|"]
    for cell, H, T, F in CONFIGS:
        rng = np.random.default_rng(0)
        G = {"LSTM": 4, "GRU": 3}[cell]
        k = rng.uniform(-0.1, 0.1, (F, G * H)).astype(np.float32)
        r = (rng.normal(size=(H, G * H)) / np.sqrt(H)).astype(np.float32)
        b = np.zeros((2, G * H) if cell == "GRU" else (G * H,), np.float32)
        ours = getattr(pyrnn, cell)(k, r, b, device="cuda")
        tl = getattr(torch.nn, cell)(F, H, batch_first=True).cuda().eval()
        with torch.no_grad():  # Keras gate order i,f,c,o == PyTorch i,f,g,o; GRU z,r,h vs PyTorch r,z,n
            wk, wr = torch.from_numpy(k.T.copy()), torch.from_numpy(r.T.copy())
            if cell == "GRU":
                perm = np.r_[H:2 * H, 0:H, 2 * H:3 * H]
                wk, wr = wk[perm], wr[perm]
            tl.weight_ih_l0.copy_(wk)
            tl.weight_hh_l0.copy_(wr)
            tl.bias_ih_l0.zero_()
            tl.bias_hh_l0.zero_()
        for B in [int(v) for v in args.batches.split(",")]:
            x = rng.normal(size=(B, T, F)).astype(np.float32)

            def torch_run(tl=tl, x=x):
                with torch.no_grad():
                    y, _ = tl(torch.from_numpy(x).cuda())
                    return y[:, -1].cpu().numpy()

            t_ours, t_torch = timed(lambda x=x, ours=ours: ours(x)), timed(torch_run)
            diff = float(np.max(np.abs(ours(x) - torch_run())))
            rows.append(f"| {cell}({H}) T={T} F={F} | {B} | {t_ours * 1e3:.3f} ms | {t_torch * 1e3:.3f} ms | "
                        f"**{t_torch / t_ours:.2f}×** | {diff:.1e} |")
            print(rows[-1], flush=True)
    os.makedirs(os.path.join(HERE, "results"), exist_ok=True)
    with open(os.path.join(HERE, "results", "cuda_compare.md"), "w") as f:
        f.write("\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
