"""The examples run end to end (quick mode) and report pyrnn matching Keras."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.parametrize(
    "script,needs,args",
    [
        ("01_digits_sequence_classification.py", "sklearn", ["--repeats", "2"]),
        ("02_sunspots_forecasting.py", "statsmodels", ["--repeats", "2"]),
        ("03_realtime_anomaly_stream.py", "statsmodels", []),
    ],
)
def test_example_runs(script, needs, args, tmp_path):
    pytest.importorskip(needs)
    pytest.importorskip("tensorflow")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONWARNINGS="ignore")
    proc = subprocess.run(
        [sys.executable, os.path.join(ROOT, "examples", script), "--quick", "--epochs", "1", *args],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "pyrnn" in proc.stdout
    assert "Traceback" not in proc.stderr
