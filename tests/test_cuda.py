"""The optional CUDA path.

Without a CUDA build or a GPU (CI has neither) the parity tests skip; what always runs:
the CPU-only build's clear errors for device="cuda", and, when nvcc is installed, a
compile of the CUDA sources so they cannot rot. With a GPU and `PYRNN_CUDA=1 pip
install .`, the layers on the GPU are compared with the CPU layers and the float64
oracle over the option matrix of the CPU suite, to 1e-5 relative.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import oracle
import pytest
from conftest import make_weights, rel_err

import pyrnn
from pyrnn import _core

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAVE_GPU = bool(_core.cuda_compiled) and _core.cuda_device_count() > 0
gpu = pytest.mark.skipif(not HAVE_GPU, reason="needs a CUDA build of pyrnn (PYRNN_CUDA=1) and a GPU")


# -- always: the CPU-only build explains itself -------------------------------------


@pytest.mark.skipif(bool(_core.cuda_compiled), reason="this build has CUDA")
def test_cpu_only_build_refuses_cuda_with_the_fix():
    k, r, b = make_weights("LSTM", 3, 4, np.random.default_rng(0))
    with pytest.raises(RuntimeError, match=r"LSTM 'lstm': device='cuda' needs pyrnn built with CUDA.*PYRNN_CUDA=1"):
        pyrnn.LSTM(k, r, b, device="cuda")
    assert "not compiled" in pyrnn.config()["cuda"]


def test_bad_device_strings_are_value_errors():
    k, r, b = make_weights("GRU", 3, 4, np.random.default_rng(0))
    for bad in ("gpu", "cuda:x", "cuda:-1", 3, "CUDA"):
        with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
            pyrnn.GRU(k, r, b, device=bad)
    assert pyrnn.GRU(k, r, b, device="cpu").device == "cpu"


@pytest.mark.skipif(not _core.cuda_compiled or HAVE_GPU, reason="needs a CUDA build on a machine without a GPU")
def test_cuda_build_without_gpu_says_so():
    k, r, b = make_weights("SimpleRNN", 3, 4, np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="not available"):
        pyrnn.SimpleRNN(k, r, b, device="cuda")


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="nvcc not installed")
def test_cuda_sources_compile(tmp_path):
    """CI has nvcc but no GPU: compile the CUDA sources (and the bindings against them) so they cannot rot."""
    for src in ("csrc/cuda/rnn.cu",):
        cmd = ["nvcc", "-std=c++17", "-arch=sm_80", "-Xcompiler", "-Wall,-Wextra,-Werror", "-Werror", "all-warnings",
               "-I", os.path.join(ROOT, "csrc/include"), "-c", os.path.join(ROOT, src),
               "-o", str(tmp_path / "rnn.o")]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout}\n{r.stderr}"
    # The bindings' CUDA branch, compiled as plain C++ (syntax and types only).
    import sysconfig

    import pybind11

    cmd = ["g++", "-std=c++17", "-fsyntax-only", "-DPYRNN_WITH_CUDA", "-Wall", "-Wextra", "-Werror",
           "-I", os.path.join(ROOT, "csrc/include"), "-I", pybind11.get_include(),
           "-I", sysconfig.get_paths()["include"], os.path.join(ROOT, "csrc/bindings/register_layers.cc")]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, f"{' '.join(cmd)}\n{r.stdout}\n{r.stderr}"


# -- with a GPU: parity with the CPU layers and the oracle ---------------------------

CELLS = ["SimpleRNN", "LSTM", "GRU"]


@gpu
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("with_state", [False, True])
def test_cuda_matches_cpu_and_oracle(cell, go_backwards, return_sequences, masked, with_state):
    rng = np.random.default_rng(7)
    B, T, D, H = 5, 9, 3, 37
    k, r, b = make_weights(cell, D, H, rng)
    kw = dict(go_backwards=go_backwards, return_sequences=return_sequences, return_state=True)
    cpu = getattr(pyrnn, cell)(k, r, b, **kw)
    gpu_layer = getattr(pyrnn, cell)(k, r, b, device="cuda", **kw)
    x = rng.normal(size=(B, T, D)).astype(np.float32)
    mask = rng.random((B, T)) > 0.3 if masked else None
    state = None
    if with_state:
        state = [rng.normal(size=(B, H)).astype(np.float32) for _ in cpu._STATES]
    got = gpu_layer(x, initial_state=state, mask=mask)
    want = cpu(x, initial_state=state, mask=mask)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert rel_err(g, w) <= 1e-5
    ref = oracle.rnn(cell, x, k, r, b, mask=mask, initial_state=state, go_backwards=go_backwards,
                     return_sequences=return_sequences, return_state=True)
    for g, w in zip(got, ref):
        assert rel_err(g, w) <= 1e-5


@gpu
@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("use_bias", [True, False])
def test_cuda_gru_variants(reset_after, use_bias):
    rng = np.random.default_rng(3)
    w = make_weights("GRU", 6, 40, rng, reset_after=reset_after, use_bias=use_bias)  # no bias: 2 arrays
    x = rng.normal(size=(4, 12, 6)).astype(np.float32)
    kw = dict(reset_after=reset_after, return_sequences=True, recurrent_activation="hard_sigmoid")
    got = pyrnn.GRU(*w, device="cuda", **kw)(x)
    want = pyrnn.GRU(*w, **kw)(x)
    assert rel_err(got, want) <= 1e-5


@gpu
@pytest.mark.parametrize("units,batch,steps", [(1, 1, 1), (256, 64, 30), (1024, 3, 5), (50, 4096, 4)])
def test_cuda_sizes(units, batch, steps):
    rng = np.random.default_rng(1)
    k, r, b = make_weights("LSTM", 17, units, rng)
    x = rng.normal(size=(batch, steps, 17)).astype(np.float32)
    assert rel_err(pyrnn.LSTM(k, r, b, device="cuda")(x), pyrnn.LSTM(k, r, b)(x)) <= 1e-5


@gpu
def test_cuda_refuses_rowwise_activation_and_bidirectional():
    rng = np.random.default_rng(0)
    k, r, b = make_weights("LSTM", 3, 8, rng)
    with pytest.raises(ValueError, match="not supported on CUDA"):
        pyrnn.LSTM(k, r, b, activation="softmax", device="cuda")
    f = pyrnn.LSTM(k, r, b, device="cuda")
    bw = pyrnn.LSTM(k, r, b, go_backwards=True)
    with pytest.raises(ValueError, match="Bidirectional runs on the CPU"):
        pyrnn.Bidirectional(f, bw)


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
