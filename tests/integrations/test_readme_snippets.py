"""The README's "Integrations" snippets run as written (except the Ray and Spark recipes: neither is a test
dependency), each as a script in a fresh interpreter."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _snippets():
    with open(os.path.join(ROOT, "README.md")) as fh:
        text = fh.read()
    section = text[text.index("## Integrations"):text.index("## How the code is laid out")]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    return [b for b in blocks if "import ray" not in b]


SNIPPETS = _snippets()


def test_the_section_has_its_snippets():
    assert len(SNIPPETS) == 3 and all("import pyrnn" in s for s in SNIPPETS)


@pytest.mark.parametrize("code", SNIPPETS, ids=["dask", "sklearn", "threadpoolctl"])
def test_snippet_runs(code, tmp_path):
    for module in re.findall(r"^from (\w+)|^import (\w+)", code, flags=re.M):
        name = module[0] or module[1]
        if name != "pyrnn":
            pytest.importorskip(name)
    script = tmp_path / "snippet.py"
    script.write_text(code)
    r = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip()
