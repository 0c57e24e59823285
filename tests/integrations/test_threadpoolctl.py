"""threadpoolctl sees pyrnn's thread pool (threadpool_info) and caps it (threadpool_limits), restoring it after."""

from __future__ import annotations

import os

import numpy as np
import pytest

import pyrnn

threadpoolctl = pytest.importorskip("threadpoolctl", minversion="3.2")

DEMO = os.path.join(os.path.dirname(os.path.abspath(pyrnn.__file__)), "data", "demo_sunspots.keras")


def _pyrnn_pools():
    return [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "pyrnn"]


@pytest.fixture
def two_threads():
    previous = pyrnn.get_num_threads()
    pyrnn.set_num_threads(2)
    yield
    pyrnn.set_num_threads(previous)


def test_info_lists_pyrnn_pool(two_threads):
    try:  # another package's extension also named _core.*.so must not be taken for pyrnn's
        import scipy.optimize._highspy._core  # noqa: F401
    except ImportError:
        pass
    (pool,) = _pyrnn_pools()
    assert pool["internal_api"] == "pyrnn"
    assert pool["num_threads"] == 2
    assert pool["version"] == pyrnn.__version__
    assert os.path.realpath(pool["filepath"]) == os.path.realpath(pyrnn._core.__file__)


@pytest.mark.parametrize("user_api", [None, "pyrnn"])
def test_limits_cap_and_restore(two_threads, user_api):
    model = pyrnn.load(DEMO)
    x = np.random.default_rng(0).normal(size=(64, 24, 1)).astype(np.float32)
    ref = model.predict(x)
    with threadpoolctl.threadpool_limits(limits=1, user_api=user_api):
        assert pyrnn.get_num_threads() == 1
        assert _pyrnn_pools()[0]["num_threads"] == 1
        np.testing.assert_array_equal(model.predict(x), ref)  # same bits on one thread
    assert pyrnn.get_num_threads() == 2
    with threadpoolctl.threadpool_limits(limits={"pyrnn": 1}):
        assert pyrnn.get_num_threads() == 1
    assert pyrnn.get_num_threads() == 2
    controller = threadpoolctl.ThreadpoolController()
    with controller.limit(limits=1, user_api="pyrnn"):
        assert pyrnn.get_num_threads() == 1
    assert pyrnn.get_num_threads() == 2


@pytest.mark.parametrize("first", ["pyrnn", "threadpoolctl"])
def test_registered_whichever_is_imported_first(first):
    """`import pyrnn` does not import threadpoolctl (an import hook registers the controller when it is
    imported); importing threadpoolctl first registers at `import pyrnn`."""
    import subprocess
    import sys

    second = "threadpoolctl" if first == "pyrnn" else "pyrnn"
    code = (f"import sys\nimport {first}\nlazy = 'threadpoolctl' not in sys.modules\nimport {second}\n"
            "import threadpoolctl, pyrnn\n"
            "apis = [p['user_api'] for p in threadpoolctl.threadpool_info()]\n"
            "with threadpoolctl.threadpool_limits(1):\n    inside = pyrnn.get_num_threads()\n"
            "print(lazy, apis.count('pyrnn'), inside)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=os.path.dirname(DEMO)).stdout.split()
    assert out == [str(first == "pyrnn"), "1", "1"]
