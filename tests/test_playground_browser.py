"""The playground page in a real browser (headless Chromium through Playwright): the
token, training the spiral, the URL following the settings, a clicked point's
backward pass against the engine, CSV uploads, hostile names staying text.

CI installs Debian's chromium (.ci/run) and sets AUTOGRAD_LAB_REQUIRE_BROWSER=1, so
there these tests cannot skip; elsewhere they skip with a message when Chromium is missing.
"""
import os
import urllib.parse

import numpy as np
import pytest

import autograd_lab as al
from autograd_lab.playground import Session, start



@pytest.fixture
def server():
    srv = start(session=Session())
    yield srv
    srv.shutdown()
    srv.server_close()


class Page:
    """A page of the playground, with what it requested, logged and alerted."""

    def __init__(self, browser, url):
        self.context = browser.new_context(viewport={"width": 1400, "height": 1000})
        self.page = self.context.new_page()
        self.requests, self.console, self.dialogs = [], [], []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.console.append(m.text))
        self.page.on("pageerror", lambda e: self.console.append("page error: " + str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.response = self.page.goto(url)

    def ready(self):
        self.page.wait_for_selector("body[data-ready='1']", timeout=30_000)
        return self.page

    def check_clean(self, server):
        """Only this server was asked for anything, and nothing broke the CSP or threw."""
        port = server.server_address[1]
        assert all(url.startswith(f"http://127.0.0.1:{port}/") for url in self.requests), self.requests
        assert not [m for m in self.console if "Content Security Policy" in m or "page error" in m], self.console
        assert self.dialogs == []
        self.context.close()


def test_the_page_needs_the_token(browser, server):
    bare = f"http://127.0.0.1:{server.server_address[1]}/"
    p = Page(browser, bare)
    assert p.response.status == 403
    assert "needs the token" in p.page.text_content("body")
    p.context.close()
    p = Page(browser, server.url)
    assert p.response.status == 200
    page = p.ready()
    assert page.text_content("#epoch") == "0"
    assert "token=" + server.token in page.url
    p.check_clean(server)


def test_spiral_2x8_tanh_trains_below_0_1_test_loss(browser, server):
    settings = "data=spiral&layers=8,8&act=tanh&features=x1,x2&n=1000&ratio=70&batch=20&opt=adam&lr=0.03"
    p = Page(browser, server.url + "&" + settings)
    page = p.ready()
    assert page.text_content("#layer-count") == "2"
    assert server.session.settings["layers"] == [8, 8] and server.session.settings["act"] == "tanh"
    before = page.evaluate("document.getElementById('boundary').toDataURL()")
    page.click("#play")
    # a generous wait, not a speed test: about 2 s alone on two cores
    try:
        page.wait_for_function("() => Number(document.getElementById('test-loss').textContent) < 0.1", timeout=60_000)
    except Exception:
        epoch, test = server.session.epoch, server.session.history[-1][2]
        pytest.fail(f"60 s of training reached epoch {epoch}, test loss {test:.3f} (load average {os.getloadavg()})")
    shown = float(page.text_content("#test-loss"))
    page.click("#play")                                      # pause (an epoch in flight may still land)
    page.wait_for_function("() => document.getElementById('play').textContent.includes('Play')")
    assert any(abs(test - shown) < 1e-4 and test < 0.1 for _, _, test in server.session.history)
    after = page.evaluate("document.getElementById('boundary').toDataURL()")
    assert after != before                                   # the decision boundary changed
    epoch = int(page.text_content("#epoch"))
    page.click("#step")
    page.wait_for_function(f"() => document.getElementById('epoch').textContent === '{epoch + 1}'")
    p.check_clean(server)


def test_the_url_follows_the_settings(browser, server):
    p = Page(browser, server.url)
    page = p.ready()
    page.select_option("#lr", "0.1")
    page.wait_for_function("() => new URLSearchParams(location.search).get('lr') === '0.1'")
    assert server.session.settings["lr"] == 0.1
    page.click("#add-layer")
    page.wait_for_function("() => new URLSearchParams(location.search).get('layers') === '4,2,2'")
    page.click(".feature[value=x1x2]")
    page.wait_for_function("() => new URLSearchParams(location.search).get('features') === 'x1,x2,x1x2'")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(page.url).query)
    assert query["token"] == [server.token]
    # the shared URL reproduces the state in a new page
    q = Page(browser, page.url)
    assert q.ready().input_value("#lr") == "0.1"
    assert server.session.settings["layers"] == [4, 2, 2]
    p.check_clean(server)
    q.check_clean(server)


def _click_point(page, subset, index):
    xy = page.evaluate(f"snap.points['{subset}'].xy[{index}]")
    domain = page.evaluate("snap.domain")
    box = page.locator("#boundary").bounding_box()
    page.mouse.click(box["x"] + (xy[0] + domain) / (2 * domain) * box["width"],
                     box["y"] + (domain - xy[1]) / (2 * domain) * box["height"])


def test_a_clicked_points_backward_pass_has_the_engines_gradients(browser, server):
    p = Page(browser, server.url + "&data=xor&layers=3,2&features=x1,x2,x1x2&opt=adam")
    page = p.ready()
    page.click("#step")
    page.wait_for_function("() => document.getElementById('epoch').textContent === '1'")
    index = 7
    _click_point(page, "train", index)
    page.wait_for_selector("#trace:not([hidden])")
    assert page.text_content("#trace-title").startswith(f"Point {index} of the train set")
    shown = {row.get_attribute("data-name"): float(row.locator("td.grad").text_content())
             for row in page.locator("#trace-grads tr[data-name]").all()}
    # the engine, on tensors, for the same point and weights
    s = server.session
    s.model.eval()
    s.model.zero_grad()
    loss = s.data_loss(s.model(al.Tensor(s.inputs["train"][index:index + 1])), s.labels["train"][index:index + 1])
    loss.backward()
    s.model.train()
    for l, m in enumerate(s.linears):
        for j in range(m.out_features):
            for i in range(m.in_features):
                assert shown[f"w{l + 1}[{j},{i}]"] == pytest.approx(float(m.weight.grad[j, i]), rel=2e-3, abs=6e-5)
            assert shown[f"b{l + 1}[{j}]"] == pytest.approx(float(m.bias.grad[j]), rel=2e-3, abs=6e-5)
    assert len(shown) == sum(m.weight.size + m.bias.size for m in s.linears)
    # the step shown first is the last one of the backward pass: local × upstream on the edges
    assert "Backward through hidden layer 1" in page.text_content("#trace-step-title")
    assert "local x = " in page.text_content("#trace-lines")
    page.click("#trace-prev")
    assert "Backward through hidden layer 2" in page.text_content("#trace-step-title")
    for _ in range(10):
        page.click("#trace-prev")
    assert page.text_content("#trace-step-label") == "step 0 of 7"
    assert "Forward" in page.text_content("#trace-step-title")
    # the whole graph, drawn by al.draw in backward mode
    page.click("#trace-draw")
    page.wait_for_selector("#trace-drawing svg", timeout=60_000)
    assert "w1[0,2]" in page.text_content("#trace-drawing svg")
    # the backward view of the network
    page.check("#view-backward")
    page.click("#land-go")
    page.wait_for_function("() => document.getElementById('land-note').textContent.includes('Training loss')")
    # a live setting keeps the point (its pass recomputed); a new network closes it
    page.select_option("#lr", "0.01")
    page.wait_for_function("() => new URLSearchParams(location.search).get('lr') === '0.01'")
    assert page.is_visible("#trace")
    page.click("#add-layer")
    page.wait_for_selector("#trace", state="hidden")
    p.check_clean(server)


CSV = "x1,x2,label\n" + "".join(f"{x:.3f},{y:.3f},{'inside' if x * x + y * y < 4 else 'outside'}\n"
                                  for x, y in np.random.default_rng(0).uniform(-3, 3, (120, 2)))


def test_upload_a_csv(browser, server, tmp_path):
    p = Page(browser, server.url)
    page = p.ready()
    page.set_input_files("#csv-file", files=[{"name": "rings.csv", "mimeType": "text/csv", "buffer": CSV.encode()}])
    page.wait_for_function("() => document.getElementById('file-name').textContent.includes('rings.csv')")
    assert page.text_content("#class-legend") == "insideoutside"
    assert server.session.settings["data"] == "csv" and len(server.session.points["train"]) == 60
    assert "data=csv" in page.url
    assert page.text_content("#csv-message") == ""
    p.check_clean(server)


def test_a_malformed_csv_gives_a_message_on_the_page(browser, server):
    p = Page(browser, server.url)
    page = p.ready()
    page.set_input_files("#csv-file", files=[{"name": "broken.csv", "mimeType": "text/csv",
                                             "buffer": b"x1,x2,label\n0,0,a\n1,oops,b\n"}])
    page.wait_for_function("() => document.getElementById('csv-message').textContent.length > 0")
    assert page.text_content("#csv-message") == "broken.csv, line 3: '1', 'oops' are not two numbers"
    big = b"0,0,a\n" * 200_000
    page.set_input_files("#csv-file", files=[{"name": "huge.csv", "mimeType": "text/csv", "buffer": big}])
    page.wait_for_function("() => document.getElementById('csv-message').textContent.includes('huge.csv')")
    assert "larger than 1000 kB" in page.text_content("#csv-message")
    assert server.session.settings["data"] == "circle"                      # nothing changed
    p.check_clean(server)


def test_hostile_file_names_and_labels_stay_text(browser, server):
    hostile = '<img src=x onerror=alert(1)>"&</script><script>alert(2)</script>'
    rows = "".join(f"{k % 5},{k // 5},{hostile if k % 2 else 'plain'}\n" for k in range(20))
    p = Page(browser, server.url)
    page = p.ready()
    page.set_input_files("#csv-file", files=[{"name": hostile + ".csv", "mimeType": "text/csv", "buffer": rows.encode()}])
    page.wait_for_function("() => document.getElementById('file-name').textContent.includes('onerror')")
    assert hostile in page.text_content("#file-name")
    assert hostile in page.text_content("#class-legend")
    _click_point(page, "train", 0)
    page.wait_for_selector("#trace:not([hidden])")
    page.set_input_files("#csv-file", files=[{"name": hostile + ".csv", "mimeType": "text/csv", "buffer": b"1,2\n"}])
    page.wait_for_function("() => document.getElementById('csv-message').textContent.includes('onerror')")
    assert page.locator("img").count() == 0
    assert page.locator("script").count() == 1                               # the page's own
    p.check_clean(server)


def test_leaving_the_page_stops_the_server(browser, monkeypatch):
    import threading
    from autograd_lab.playground import server as server_module
    monkeypatch.setattr(server_module, "CLOSE_GRACE_SECONDS", 0.5)
    srv = server_module.PlaygroundServer(session=Session({"layers": "2"}), stop_when_closed=True)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        p = Page(browser, srv.url)
        p.ready()
        assert thread.is_alive()
        p.page.goto("about:blank")                          # the page says goodbye (a beacon)
        thread.join(timeout=20)
        assert not thread.is_alive()
        p.context.close()
    finally:
        if thread.is_alive():
            srv.shutdown()
        srv.server_close()
