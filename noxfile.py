"""The tests that need no TensorFlow on every supported Python, each in its own fresh venv.

    nox                   # every version from 3.9 to 3.13 found on this machine (missing ones are skipped)
    nox -s tests-3.13     # one version; .ci/run runs this one (Python 3.12+ warns when a threaded process forks)

Each session builds pyrnn from this checkout into a new venv and runs the float64-oracle parity suite, the
bad-input suite and the loading and user-message suites with DeprecationWarnings as errors. The full suite
(against TensorFlow itself) runs on the default interpreter: `pip install ".[test]" && pytest`.
"""

from __future__ import annotations

import glob
import os

import nox

PYTHONS = ["3.9", "3.10", "3.11", "3.12", "3.13"]
CORE_TESTS = [
    "tests/layers/test_oracle_parity.py",
    "tests/layers/test_compute_types.py",
    "tests/layers/test_bad_input.py",
    "tests/files/test_loading.py",
    "tests/usability/test_user_messages.py",
]

# pyenv keeps each interpreter in its own folder; let nox find python3.X there too.
_pyenv = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
for _bin in sorted(glob.glob(os.path.join(_pyenv, "versions", "3.*", "bin"))):
    os.environ["PATH"] += os.pathsep + _bin

nox.options.sessions = ["tests"]
nox.options.error_on_missing_interpreters = False


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    session.install(".", "pytest>=7", "hypothesis>=6", "pybind11>=3.0", "mypy>=1.8")
    session.run("pytest", "-p", "no:cacheprovider", "-W", "error::DeprecationWarning", *CORE_TESTS,
                *session.posargs)
