"""`autograd-lab export --web DIR` in a real browser: headless Chromium opens the page from a local
HTTP server (WebAssembly does not run from file://), a sound file is dropped in, and the
probabilities the page shows are those `autograd-lab predict --json` prints.

onnxruntime-web is fetched from the npm registry once and cached (default_cache_dir()/npm), so
reruns do not fetch it again. CI installs Debian's chromium (.ci/run) and sets
AUTOGRAD_LAB_REQUIRE_BROWSER=1, so there the test cannot skip.
"""
import functools
import http.server
import json
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import autograd_lab as al

SR = 8000
REQUIRED = os.environ.get("AUTOGRAD_LAB_REQUIRE_BROWSER") == "1"


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "autograd_lab", *map(str, args)], capture_output=True,
                          text=True, timeout=900, env=env)


def _tone(freq, seconds, sr=SR, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(sr * seconds)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t) + 0.02 * rng.standard_normal(t.size)).astype(np.float32)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A CNN trained briefly, exported with --web, served over HTTP on localhost."""
    root = tmp_path_factory.mktemp("web")
    data = root / "sounds"
    for k, (name, base) in enumerate((("low", 300), ("mid", 900), ("high", 2000))):
        os.makedirs(data / name)
        for i in range(8):
            al.audio.save(data / name / f"{i}.wav", _tone(base * (1 + 0.03 * i), 0.8, seed=10 * k + i), SR)
    features_env = dict(os.environ, AUTOGRAD_LAB_CACHE_DIR=str(root / "cache"))
    result = _cli("train", "--data", data, "--model", "cnn", "--epochs", 2, "--out", root / "run", "--quiet",
                  "--folds", 4, "--no-pictures", env=features_env)
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoint = root / "run" / "model.safetensors"
    page = root / "page"
    # the user's cache (not the temporary one), so onnxruntime-web is fetched once per machine
    result = _cli("export", checkpoint, "--web", page)
    if result.returncode != 0 and ("npm" in result.stderr) and not REQUIRED:
        pytest.skip(f"onnxruntime-web could not be fetched: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "python -m http.server" in result.stdout
    for name in ("index.html", "model.onnx", "ort/ort.wasm.min.js", "ort/ort-wasm-simd-threaded.wasm"):
        assert (page / name).stat().st_size > 1000, name
    handler = functools.partial(_QuietHandler, directory=str(page))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", checkpoint, root
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _open(browser, url):
    page = browser.new_page()
    outside = []

    def only_localhost(route):
        if not route.request.url.startswith(url):
            outside.append(route.request.url)
            return route.abort()
        return route.continue_()
    page.route("**/*", only_localhost)                 # the page must need nothing from elsewhere
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(url + "/index.html")
    page.wait_for_selector("body[data-ready='1']", timeout=120_000)
    return page, outside, errors


def _drop(page, path):
    page.set_input_files("#file", str(path))
    page.wait_for_selector("body[data-probabilities]", timeout=120_000)
    return json.loads(page.get_attribute("body", "data-probabilities")), page.get_attribute("body", "data-exact")


def test_the_page_gives_the_probabilities_predict_json_prints(browser, site):
    url, checkpoint, root = site
    probes = []
    for k, (seconds, subtype, channels) in enumerate(((0.31, "PCM_16", 1), (1.0, "PCM_24", 1),
                                                      (1.37, "FLOAT", 2), (2.5, "PCM_16", 2))):
        clip = _tone(400 + 700 * k, seconds, seed=k) * (0.3 + 0.4 * k)
        if channels == 2:
            clip = np.stack([clip, 0.5 * _tone(1500, seconds, seed=50 + k)])
        path = root / f"probe{k}_{seconds}s_{subtype}_{channels}ch.wav"
        al.audio.save(path, clip, SR, subtype=subtype)
        probes.append(path)
    result = _cli("predict", "--checkpoint", checkpoint, "--json", *probes)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = [json.loads(line) for line in result.stdout.splitlines()]
    page, outside, errors = _open(browser, url)
    for path, ours in zip(probes, expected):
        shown, exact = _drop(page, path)
        assert exact == "1" and shown["file"] == path.name
        assert shown["probabilities"].keys() == ours["probabilities"].keys()
        for name, p in ours["probabilities"].items():
            assert abs(shown["probabilities"][name] - p) <= 1e-4, (path.name, name, shown, ours)
        assert page.text_content("#status") == f"{path.name}: {ours['label']}"
    page.screenshot(path=str(root / "page.png"))
    assert outside == [] and errors == []


def test_other_rates_and_formats_are_decoded_by_the_browser_and_said_to_be_approximate(browser, site):
    url, checkpoint, root = site
    path = root / "probe_16k.wav"
    al.audio.save(path, _tone(2000, 1.0, sr=16000), 16000)
    result = _cli("predict", "--checkpoint", checkpoint, "--json", path)
    ours = json.loads(result.stdout)
    page, _, errors = _open(browser, url)
    shown, exact = _drop(page, path)
    assert exact == "0"
    assert "16000 Hz" in page.text_content("#note") and "not identical" in page.text_content("#note")
    best = max(shown["probabilities"], key=shown["probabilities"].get)
    assert best == ours["label"]                            # close, not equal: another resampler
    not_audio = root / "notes.wav"
    not_audio.write_text("this is not audio")
    page.set_input_files("#file", str(not_audio))
    page.wait_for_function("document.getElementById('error').textContent.length > 0", timeout=60_000)
    assert "notes.wav" in page.text_content("#error")
    assert errors == []
