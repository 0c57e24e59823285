"""pytest-benchmark suite for the layers (not part of the CI test run).

    pytest bench/test_bench_layers.py --benchmark-columns=median,iqr,ops

One benchmark per (cell, units, T, F, batch, ISA tier); compare tiers or commits with
pytest-benchmark's --benchmark-save / --benchmark-compare.
"""

from __future__ import annotations

import numpy as np
import pytest

import pyrnn
from pyrnn import _core

CONFIGS = [
    ("LSTM", 50, 49, 1, 1),
    ("LSTM", 50, 49, 1, 64),
    ("SimpleRNN", 50, 49, 1, 1),
    ("GRU", 256, 120, 33, 1),
    ("LSTM", 256, 120, 33, 64),
]


def _weights(cell, units, feats, rng):
    G = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}[cell]
    kernel = rng.uniform(-0.1, 0.1, size=(feats, G * units)).astype(np.float32)
    rec = (rng.normal(size=(units, G * units)) / np.sqrt(units)).astype(np.float32)
    bias = rng.uniform(-0.5, 0.5, size=((2, G * units) if cell == "GRU" else (G * units,))).astype(np.float32)
    return kernel, rec, bias


@pytest.mark.parametrize("tier", _core.supported_isas())
@pytest.mark.parametrize("cell,units,steps,feats,batch", CONFIGS, ids=lambda v: str(v))
def test_layer(benchmark, tier, cell, units, steps, feats, batch):
    rng = np.random.default_rng(0)
    layer = getattr(pyrnn, cell)(*_weights(cell, units, feats, rng))
    x = rng.normal(size=(batch, steps, feats)).astype(np.float32)
    previous = _core.current_isa()
    _core.set_isa(tier)
    try:
        benchmark(layer, x)
    finally:
        _core.set_isa(previous)
