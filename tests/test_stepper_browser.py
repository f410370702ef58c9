"""The backprop stepper page in a real browser: headless Chromium opens it offline,
clicks Next, and the gradient it shows is the engine's. Hostile labels stay text.

CI installs Debian's chromium (.ci/run) and sets AUTOGRAD_LAB_REQUIRE_BROWSER=1, so
there the test cannot skip; elsewhere it skips with a message when Chromium is missing.
"""
import os
import shutil

import pytest

import autograd_lab as al

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    if CHROMIUM is None:
        if os.environ.get("AUTOGRAD_LAB_REQUIRE_BROWSER") == "1":
            pytest.fail("Chromium is required here (AUTOGRAD_LAB_REQUIRE_BROWSER=1) but not found")
        pytest.skip("no Chromium found: install Debian's `chromium` package to run the browser test")
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


def _page(browser, path):
    context = browser.new_context(offline=True)           # no network at all
    page = context.new_page()
    requests = []
    page.on("request", lambda r: requests.append(r.url))
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto("file://" + str(path))
    return page, requests, dialogs


def test_next_shows_the_engines_gradient(browser, tmp_path):
    a, b, c = al.Value(2.0, label="a"), al.Value(-3.0, label="b"), al.Value(10.0, label="c")
    e = a * b; e.label = "e"
    d = e + c; d.label = "d"
    f = al.Value(-2.0, label="f")
    L = d * f; L.label = "L"
    path = al.viz.save_backprop_html(L, tmp_path / "steps.html")
    L.backward()
    page, requests, _ = _page(browser, path)
    assert page.text_content("#shown-grad") == "1.0000"           # step 0: dL/dL
    page.click("#next")
    page.click("#next")                                            # through L's mul, now at d
    assert page.text_content("#step-title") == "Backward through add at d"
    assert page.text_content("#shown-grad") == f"{d.grad:.4f}"
    page.click("#next")                                            # at e: contributions to a and b
    assert f"= {a.grad:.4f}" in page.text_content("#contributions")
    assert page.locator("#picture svg .current").count() >= 1
    page.click("#prev")
    assert page.text_content("#shown-grad") == f"{d.grad:.4f}"
    assert all(url.startswith("file://") for url in requests)


def test_hostile_labels_stay_text_in_the_page(browser, tmp_path):
    x = al.Value(1.0, label='<img src=x onerror=alert(1)> "q" & </script><script>alert(2)</script>')
    y = x * 2.0
    y.label = "y"
    path = al.viz.save_backprop_html(y, tmp_path / "hostile.html")
    page, _, dialogs = _page(browser, path)
    page.click("#next")
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 2                    # the page's own two
    assert "<img src=x onerror=alert(1)>" in page.text_content("#contributions")
    assert dialogs == []
