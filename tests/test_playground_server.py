"""The playground without a browser: its session (training, each point's gradients
against the engine's tensors, the landscape, CSV files) and its server (token,
loopback only, 4xx messages, stopping when the page closes, the command line)."""
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

import numpy as np
import pytest

import autograd_lab as al
from autograd_lab.playground import Session, SettingsError, parse_csv, parse_settings, server as server_module, start


# ---- the session ---------------------------------------------------------------------------
def test_settings_are_checked_and_name_the_setting():
    s = parse_settings({"layers": "8,8", "lr": "0.1", "features": "sin1,x1"})
    assert s["layers"] == [8, 8] and s["lr"] == 0.1 and s["features"] == "x1,sin1"
    for raw, words in [({"lr": "abc"}, "lr: 'abc' is not a number"), ({"layers": "9"}, "layers: 9 is outside"),
                       ({"layers": "1,1,1,1,1,1,1"}, "at most 6 hidden layers"), ({"act": "gelu"}, "act: 'gelu'"),
                       ({"features": ""}, "at least one"), ({"bogus": "1"}, "unknown setting 'bogus'"),
                       ({"lr": "nan"}, "lr: nan"), ({"data": "moons"}, "data: 'moons' is not one of")]:
        with pytest.raises(SettingsError, match=words.replace("(", r"\(")):
            parse_settings(raw)


def test_training_lowers_the_loss_and_live_settings_do_not_reset():
    s = Session({"data": "xor", "layers": "6,4", "features": "x1,x2,x1x2", "opt": "adam", "lr": "0.03", "seed": "2"})
    first = s.snapshot()["train_loss"]
    snap = s.train(epochs=30)
    assert snap["epoch"] == 30 and snap["train_loss"] < 0.5 * first
    s.configure({"lr": "0.01", "reg": "l2", "regrate": "0.001", "batch": "20"})
    assert s.epoch == 30 and s.optimizer.lr == pytest.approx(0.01)
    s.configure({"layers": "3"})                            # the architecture: a new network
    assert s.epoch == 0 and [m.out_features for m in s.linears] == [3, 1]
    assert len(snap["history"]) == 31 and snap["sizes"] == [3, 6, 4, 1]
    assert len(snap["boundary"]["cls"]) == snap["grid"] ** 2
    assert [len(p) for p in snap["pictures"]] == [3, 6, 4, 1]


def test_schedules_dropout_and_regularisation():
    s = Session({"data": "circle", "layers": "4", "sched": "step", "lr": "0.1", "dropout": "0.2",
                 "reg": "l1", "regrate": "0.01"})
    assert any(isinstance(m, al.nn.Dropout) for m in s.model)
    s.epoch = 450
    assert s._scheduled_lr() == pytest.approx(0.1 * 0.25)
    s.configure({"sched": "cosine"})
    assert s._scheduled_lr() == pytest.approx(0.001)        # at the end of the cosine: 1 % of lr
    penalty = s.penalty().item()
    assert penalty == pytest.approx(0.01 * sum(np.abs(m.weight.data).sum() for m in s.linears), rel=1e-5)


@pytest.mark.parametrize("settings", [
    {"data": "xor", "layers": "3,2", "features": "x1,x2,x1x2", "act": "tanh"},
    {"data": "gauss", "classes": "3", "layers": "4", "act": "relu", "features": "x1,x2,x1sq"},
    {"data": "spiral", "classes": "4", "layers": "3,3", "act": "sigmoid", "features": "x1,x2,sin1,sin2"},
    {"data": "circle", "layers": "2", "act": "linear"},
])
def test_a_points_gradients_are_the_engines(settings):
    """The scalar graph the page shows gives the same gradients as the tensor network."""
    s = Session(dict(settings, opt="adam", dropout="0.3"))
    s.train(epochs=3)
    for subset, index in (("train", 5), ("test", 0)):
        t = s.trace(subset, index)
        s.model.eval()
        s.model.zero_grad()
        X = al.Tensor(s.inputs[subset][index:index + 1])
        loss = s.data_loss(s.model(X), s.labels[subset][index:index + 1])
        loss.backward()
        assert t["loss"] == pytest.approx(loss.item(), rel=1e-4, abs=1e-6)
        for layer, m in zip(t["layers"], s.linears):
            dw = np.zeros(m.weight.shape)
            for e in layer["edges"]:
                dw[e["j"], e["i"]] = e["dw"]
                assert e["dw"] == pytest.approx(e["x"] * e["upstream"], rel=1e-9, abs=1e-12)   # local × upstream
            np.testing.assert_allclose(dw, m.weight.grad, rtol=1e-4, atol=1e-6)
            np.testing.assert_allclose([n["db"] for n in layer["neurons"]], m.bias.grad, rtol=1e-4, atol=1e-6)
            for n in layer["neurons"]:
                if n["da"] is not None and m is not s.linears[-1]:
                    assert n["dz"] == pytest.approx(n["da"] * n["local"], rel=1e-6, abs=1e-12)
    with pytest.raises(SettingsError, match="not a point of the train set"):
        s.trace("train", 10_000)


def test_the_drawing_of_a_point_is_al_draw_backward():
    s = Session({"data": "xor", "layers": "2", "features": "x1,x2"})
    svg = s.drawing_svg("train", 0)
    assert svg.startswith("<svg") and "w1[0,1]" in svg and "×" in svg
    with pytest.raises(SettingsError, match="limited to 10"):
        s.drawing_svg("train", 0, max_nodes=10)


def test_landscape_passes_through_the_current_loss_and_restores_the_weights():
    s = Session({"data": "circle", "layers": "3", "opt": "adam", "lr": "0.05"})
    s.train(epochs=5)
    before = [np.array(m.weight.data) for m in s.linears]
    land = s.landscape(0, 6, cells=5)           # w1 is 3 x 2: weight 6 is w2[0,0]
    assert land["names"] == ["w1[0,0]", "w2[0,0]"] and len(land["path"]) == 6
    assert land["loss"][2][2] == pytest.approx(s.loss_on("train"), rel=1e-5)    # the centre: the weights now
    for m, w in zip(s.linears, before):
        np.testing.assert_array_equal(m.weight.data, w)
    with pytest.raises(SettingsError, match="two different weights"):
        s.landscape(1, 1)


def test_csv_files_parse_with_clear_errors():
    points, labels, classes = parse_csv("x,y,class\n0,0,cat\n1,2,dog\n3,1,cat\n2,2,<b>bird</b>\n")
    assert classes == ["<b>bird</b>", "cat", "dog"] and labels.tolist() == [1, 2, 1, 0]
    assert points.min() == -1 and points.max() == 1
    assert parse_csv("0,0,2\n1,1,10\n2,2,2\n3,3,10\n")[2] == ["2", "10"]          # numeric labels in order
    for text, words in [("", "empty"), ("1,2\n", "line 1: expected 3 columns"),
                        ("0,0,a\n1,1,b\nfoo,bar,a\n2,2,b\n", "line 3: 'foo', 'bar' are not two numbers"),
                        ("0,0,a\n1,1,a\n2,2,a\n3,3,a\n", "at least 2 different labels"),
                        ("".join(f"{k},{k},{k}\n" for k in range(8)), "at most 6 classes"),
                        ("0,0,a\n1,inf,b\n", "line 2: coordinates must be finite"),
                        ("0,0,a\n1,1,b\n", "at least 4 points"), ("x" * 1_000_001, "larger than 1000 kB")]:
        with pytest.raises(SettingsError, match=words):
            parse_csv(text, "mine.csv")
    s = Session()
    s.load_csv("0,0,a\n1,1,b\n0,1,a\n1,0,b\n0.5,0.5,a\n0.2,0.9,b\n", "mine.csv")
    snap = s.snapshot()
    assert snap["settings"]["data"] == "csv" and snap["classes"] == ["a", "b"] and snap["file"] == "mine.csv"


# ---- the server ------------------------------------------------------------------------------
@pytest.fixture
def served():
    srv = start(session=Session({"data": "xor", "layers": "3"}))
    yield srv
    srv.shutdown()
    srv.server_close()


def request(srv, method, path, body=None, token=True, host=None, headers=None):
    port = srv.server_address[1]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    if token:
        path += ("&" if "?" in path else "?") + "token=" + urllib.parse.quote(srv.token)
    hdrs = {"Host": host or f"127.0.0.1:{port}", **(headers or {})}
    conn.request(method, path, body=body, headers=hdrs)
    reply = conn.getresponse()
    data = reply.read()
    conn.close()
    return reply.status, data, reply


def test_the_server_listens_on_loopback_only(served):
    assert served.server_address[0] == "127.0.0.1"
    # any other address of this machine must refuse the connection
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))             # no packet is sent; picks the outgoing interface
        outside = probe.getsockname()[0]
    except OSError:
        outside = None
    finally:
        probe.close()
    if outside and not outside.startswith("127."):
        with pytest.raises(OSError):
            socket.create_connection((outside, served.server_address[1]), timeout=3).close()
    assert request(served, "GET", "/")[0] == 200


def test_token_and_host_are_required(served):
    status, body, _ = request(served, "GET", "/", token=False)
    assert status == 403 and b"token" in body
    assert request(served, "GET", "/?token=wrong", token=False)[0] == 403
    assert request(served, "POST", "/api/train?token=" + served.token[:-1], body=b"{}", token=False)[0] == 403
    status, body, _ = request(served, "GET", "/", host="evil.example:80")          # DNS rebinding
    assert status == 403 and b"only to 127.0.0.1" in body
    status, body, reply = request(served, "GET", "/")
    assert status == 200 and b"autograd_lab playground" in body
    csp = reply.getheader("Content-Security-Policy")
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp and "unsafe-inline" not in csp


def test_bad_requests_get_4xx_with_a_message_never_a_traceback(served):
    cases = [("POST", "/api/train", b"not json", 400, "not JSON"),
             ("POST", "/api/train", b"[1, 2]", 400, "JSON object"),
             ("POST", "/api/train", b'{"epochs": -1}', 400, "epochs must be"),
             ("POST", "/api/config", b'{"lr": "fast"}', 400, "lr: 'fast' is not a number"),
             ("POST", "/api/config", b'{"data": "csv"}', 400, "uploaded file first"),
             ("POST", "/api/trace", b'{"subset": "train", "index": "7"}', 400, "not a point"),
             ("POST", "/api/landscape", b'{"a": 0, "b": 999}', 400, "not in 0.."),
             ("POST", "/api/upload?name=bad.csv", b"1,2\n", 400, "bad.csv, line 1"),
             ("POST", "/api/upload?name=latin.csv", "0,0,é\n".encode("latin-1"), 400, "not UTF-8"),
             ("GET", "/api/nothing", None, 404, "no GET /api/nothing"),
             ("GET", "/api/train", None, 405, "no GET /api/train")]
    for method, path, body, status, words in cases:
        got, data, _ = request(served, method, path, body)
        message = json.loads(data)["error"]
        assert got == status and words in message, (path, got, message)
        assert "Traceback" not in message
    got, data, _ = request(served, "POST", "/api/upload?name=big.csv", b"0,0,a\n",
                           headers={"Content-Length": str(50_000_000)})
    assert got == 413 and "limit is 1000 kB" in json.loads(data)["error"]
    assert request(served, "POST", "/api/train", b'{"epochs": 2}')[0] == 200          # still serving


def test_closing_the_page_stops_the_server(monkeypatch):
    monkeypatch.setattr(server_module, "CLOSE_GRACE_SECONDS", 0.3)
    srv = server_module.PlaygroundServer(session=Session({"layers": "2"}), stop_when_closed=True)
    import threading
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    assert request(srv, "POST", "/api/bye", b"")[0] == 204
    thread.join(timeout=20)
    assert not thread.is_alive()
    srv.server_close()


def test_a_request_soon_after_bye_keeps_it_running(monkeypatch):
    monkeypatch.setattr(server_module, "CLOSE_GRACE_SECONDS", 30.0)
    srv = server_module.PlaygroundServer(session=Session({"layers": "2"}), stop_when_closed=True)
    import threading
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    request(srv, "POST", "/api/bye", b"")
    assert srv._close_timer is not None and srv._close_timer.is_alive()              # stopping soon
    assert request(srv, "GET", "/api/state")[0] == 200                               # a reload
    assert srv._close_timer is None and thread.is_alive()                            # ... cancels it
    srv.shutdown()
    srv.server_close()


def test_the_command_prints_the_url_first_and_stops_on_ctrl_c(tmp_path):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "autograd_lab", "playground", "--no-browser",
                             "--settings", "data=spiral&layers=8,8"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
                            # a shell's background job starts with SIGINT ignored, and so would the child
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        first = proc.stdout.readline().strip()
        url = urllib.parse.urlsplit(first)
        assert url.scheme == "http" and url.hostname == "127.0.0.1" and "token=" in url.query
        conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=30)
        conn.request("GET", "/api/state?" + url.query)
        state = json.loads(conn.getresponse().read())
        assert state["settings"]["data"] == "spiral" and state["sizes"][1:3] == [8, 8]
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "playground stopped" in out and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []                                            # nothing written


def test_the_command_rejects_bad_settings():
    result = subprocess.run([sys.executable, "-m", "autograd_lab", "playground", "--no-browser",
                             "--settings", "act=swish"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert "autograd-lab playground: error: act: 'swish' is not one of" in result.stderr


def test_the_notebook_widget_frames_a_running_playground():
    pytest.importorskip("anywidget")
    from autograd_lab.playground import widget
    w = widget(height=600, settings={"data": "xor"})
    try:
        assert w.height == 600 and w.url == w.server.url and "iframe" in w._esm
        status, body, _ = request(w.server, "GET", "/")
        assert status == 200 and b"autograd_lab playground" in body
        assert w.server.session.settings["data"] == "xor"
    finally:
        w.server.shutdown()
        w.server.server_close()
