import os
import shutil
import sys

import pytest
from hypothesis import settings

sys.path.insert(0, os.path.dirname(__file__))

# CI machines are shared and slow: no per-example deadline, a fixed example budget.
settings.register_profile("default", deadline=None, max_examples=25, derandomize=True)
# Kernels run as plain Python under NUMBA_DISABLE_JIT=1: fewer, same-seeded examples.
settings.register_profile("nojit", deadline=None, max_examples=8, derandomize=True)
settings.load_profile("default")

# Tests give each command-line run a fresh data cache (AUTOGRAD_LAB_CACHE_DIR), and the
# compiled kernels would follow it: every such test would recompile them (~12 s). One kernel
# cache for the whole run and its subprocesses, where this environment keeps it anyway.
if not os.environ.get("AUTOGRAD_LAB_KERNEL_CACHE_DIR"):
    from autograd_lab import kernels as _kernels
    os.environ["AUTOGRAD_LAB_KERNEL_CACHE_DIR"] = os.path.dirname(_kernels.cache_dir())


# ---- two workers (`make test` runs pytest-xdist): tests go one by one to whichever worker is
# free, except the modules whose tests share an expensive module fixture (a trained model): each
# of those runs whole on one worker, so its fixture is built once. xdist hands out the larger
# groups first (those two modules), then the tests in collection order (slow ones first, below).
# Each worker runs the kernels on as many threads as it would alone.
MODULES_WITH_A_SHARED_FIXTURE = ("tests/test_onnx.py", "tests/test_interop_browser.py")


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getoption("dist") != "load":        # the user asked for another distribution
        return None
    from xdist.scheduler import LoadScopeScheduling

    class SharedFixtureModulesWhole(LoadScopeScheduling):
        def _split_scope(self, nodeid):
            module = nodeid.split("::", 1)[0]
            return module if module in MODULES_WITH_A_SHARED_FIXTURE else nodeid

    return SharedFixtureModulesWhole(config, log)


def pytest_collection_modifyitems(config, items):
    """Slow tests first (a stable sort): a long test picked up last would keep one worker busy
    while the other has nothing left to do."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


# ---- a real browser for the page tests (headless Chromium through Playwright) ----------------
# CI installs Debian's chromium (.ci/run) and sets AUTOGRAD_LAB_REQUIRE_BROWSER=1: there these
# tests cannot skip; elsewhere they skip with a message when Chromium is missing.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run (each test opens its own context)."""
    if CHROMIUM is None:
        if os.environ.get("AUTOGRAD_LAB_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required here (AUTOGRAD_LAB_REQUIRE_BROWSER=1) but not found")
        pytest.skip("no Chromium found: install Debian's `chromium` package to run the browser test")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture
def split_mid_size_products(monkeypatch):
    """Split W2-sized products (64x1280x128) across the helpers, as kernels.matmul does only
    for larger ones by default: the runtime's hand-off is tested on fast, small products."""
    from autograd_lab.kernels import matmul
    monkeypatch.setattr(matmul, "SPLIT_MIN_MULTIPLY_ADDS", 1 << 20)
