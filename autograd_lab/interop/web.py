"""A static web page that classifies a dropped sound file with the exported model, offline.

`export_web(classifier, folder)` writes index.html (page, script and the model's
classes inline), model.onnx (the raw-waveform graph of `al.onnx.export`) and ort/,
onnxruntime-web's WebAssembly runtime, vendored from the npm registry at export time
(`npm pack onnxruntime-web@ORT_WEB_VERSION`) and cached in
default_cache_dir()/npm, so it is fetched once per machine. The page loads nothing
from elsewhere.

Decoding: the page reads WAV files itself (8/16/24/32-bit PCM, 32/64-bit float, any
channel count, averaged to mono as `al.audio.load` does), so a WAV at the model's
sample rate gives the probabilities `autograd-lab predict --json` prints. Other formats
or rates go through the browser's decoder and resampler (decodeAudioData), which is
not scipy's polyphase filter: the page then says its figures are approximate.

Browsers do not run WebAssembly from file:// pages: serve the folder, e.g.
`python -m http.server --directory FOLDER`.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
import tempfile

ORT_WEB_VERSION = "1.30.0"
# the WebAssembly build of onnxruntime-web: the script, its loader and the runtime
ORT_WEB_FILES = ("ort.wasm.min.js", "ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm")


class WebExportError(RuntimeError):
    """onnxruntime-web could not be fetched (npm missing, no network, ...)."""


def onnxruntime_web(cache_dir=None, version=ORT_WEB_VERSION) -> str:
    """The folder holding ORT_WEB_FILES of onnxruntime-web `version`, fetched with npm if not cached."""
    from ..audio.prepare import default_cache_dir
    folder = os.path.join(cache_dir or default_cache_dir(), "npm", f"onnxruntime-web-{version}")
    if _complete(folder):
        return folder
    npm = shutil.which("npm")
    if npm is None:
        raise WebExportError("export --web: npm is needed once to fetch onnxruntime-web from the npm registry "
                             "(install Node.js, e.g. `apt-get install npm`), then the package is cached in "
                             f"{folder}")
    parent = os.path.dirname(folder)
    os.makedirs(parent, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            result = subprocess.run([npm, "pack", f"onnxruntime-web@{version}", "--silent",
                                     "--pack-destination", tmp], capture_output=True, text=True, timeout=600,
                                    cwd=tmp)
        except subprocess.TimeoutExpired:
            raise WebExportError("export --web: `npm pack onnxruntime-web` took over 10 minutes "
                                 "(is the npm registry reachable?)") from None
        tarballs = [f for f in os.listdir(tmp) if f.endswith(".tgz")]
        if result.returncode != 0 or not tarballs:
            reason = (result.stderr.strip().splitlines() or ["no tarball written"])[-1]
            raise WebExportError(f"export --web: could not fetch onnxruntime-web@{version} from the npm registry "
                                 f"(network?): {reason}")
        # unpacked beside the cache folder (same file system), then renamed into place in one step:
        # another process (a second test worker, a second export) never sees a half-written folder
        staging = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(folder)}.")
        try:
            with tarfile.open(os.path.join(tmp, tarballs[0])) as archive:
                for name in ORT_WEB_FILES + ("LICENSE",):
                    try:
                        member = archive.getmember(f"package/dist/{name}" if name != "LICENSE"
                                                   else "package/LICENSE")
                    except KeyError:
                        if name == "LICENSE":
                            continue
                        raise WebExportError(f"export --web: onnxruntime-web@{version} has no dist/{name}") from None
                    with archive.extractfile(member) as src, open(os.path.join(staging, name), "wb") as dst:
                        shutil.copyfileobj(src, dst)
            _rename_into_place(staging, folder)
        finally:
            shutil.rmtree(staging, ignore_errors=True)       # gone already unless another process won
    return folder


def _complete(folder) -> bool:
    return all(os.path.exists(os.path.join(folder, f)) for f in ORT_WEB_FILES)


def _rename_into_place(staging, folder):
    """Rename `staging` to `folder` atomically. If another process finished first, its folder is kept
    (same version, same files); an incomplete folder left by an older, interrupted fetch is moved
    aside (atomically too) and removed."""
    for _ in range(5):
        try:
            os.rename(staging, folder)            # fails if `folder` exists and is not empty
            return
        except OSError:
            if not os.path.isdir(folder):
                raise
        if _complete(folder):
            return
        aside = tempfile.mkdtemp(dir=os.path.dirname(folder), prefix=f".{os.path.basename(folder)}.old.")
        try:
            os.rename(folder, os.path.join(aside, "old"))
        except FileNotFoundError:                 # another process moved it first
            pass
        finally:
            shutil.rmtree(aside, ignore_errors=True)
    raise WebExportError(f"export --web: could not put onnxruntime-web in place at {folder}")


def export_web(classifier, folder, cache_dir=None) -> str:
    """Write the page, the model and the vendored runtime into `folder`; returns index.html's path."""
    from .onnx import export
    runtime = onnxruntime_web(cache_dir)
    os.makedirs(os.path.join(folder, "ort"), exist_ok=True)
    for name in os.listdir(runtime):
        shutil.copy2(os.path.join(runtime, name), os.path.join(folder, "ort", name))
    export(classifier, os.path.join(folder, "model.onnx"))
    settings = {"sample_rate": classifier.config.sr, "classes": classifier.classes,
                "model": type(classifier.model).__name__, "ort_version": ORT_WEB_VERSION}
    # "</" cannot end the inline JSON early
    page = _PAGE.replace("__SETTINGS__", json.dumps(settings).replace("</", "<\\/"))
    path = os.path.join(folder, "index.html")
    with open(path, "w", encoding="utf-8") as f:
        f.write(page)
    return path


_PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<link rel="icon" href="data:,">
<title>autograd_lab classifier</title>
<style>
  body { font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
  #drop { border: 2px dashed #888; border-radius: 8px; padding: 2rem; text-align: center; }
  #drop.over { background: #eef; }
  table { border-collapse: collapse; margin-top: 1rem; width: 100%; }
  td { padding: 2px 6px; }
  td:first-child { width: 25%; } td:nth-child(2) { width: 10%; text-align: right; }
  .bar { background: #4a7; height: 0.9em; }
  #note { color: #a50; }
  #error { color: #b00; }
</style>
</head>
<body>
<h1>Which sound is it?</h1>
<p id="about"></p>
<div id="drop">Drop a sound file here, or <input type="file" id="file" accept="audio/*,.wav"></div>
<p id="status">loading the model…</p>
<p id="note"></p>
<p id="error"></p>
<table id="result"></table>
<script type="application/json" id="settings">__SETTINGS__</script>
<script src="ort/ort.wasm.min.js"></script>
<script>
"use strict";
const settings = JSON.parse(document.getElementById("settings").textContent);
const $ = (id) => document.getElementById(id);
$("about").textContent = `A ${settings.model} trained with autograd_lab tells ${settings.classes.length} classes apart: ` +
  `${settings.classes.join(", ")}. Everything runs in this page (onnxruntime-web ${settings.ort_version}); ` +
  `nothing is uploaded. WAV files at ${settings.sample_rate} Hz are read exactly as autograd-lab reads them.`;

ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;   // a URL: import() needs one
ort.env.wasm.numThreads = 1;          // no SharedArrayBuffer needed, so any static server works
let session = null;
const ready = ort.InferenceSession.create("model.onnx", { executionProviders: ["wasm"] })
  .then((s) => { session = s; $("status").textContent = "ready: drop a file"; document.body.dataset.ready = "1"; })
  .catch((e) => { $("error").textContent = "could not load the model: " + e; });

// WAV (RIFF) -> { rate, samples: Float32Array mono }, or null if not a WAV we read
function decodeWav(buffer) {
  const view = new DataView(buffer);
  const tag = (at) => String.fromCharCode(...new Uint8Array(buffer, at, 4));
  if (buffer.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") return null;
  let format = null, data = null;
  for (let at = 12; at + 8 <= buffer.byteLength;) {
    const id = tag(at), size = view.getUint32(at + 4, true);
    if (id === "fmt ") {
      let code = view.getUint16(at + 8, true);
      if (code === 0xFFFE) code = view.getUint16(at + 32, true);    // WAVE_FORMAT_EXTENSIBLE: the sub-format
      format = { code, channels: view.getUint16(at + 10, true), rate: view.getUint32(at + 12, true),
                 bits: view.getUint16(at + 22, true) };
    } else if (id === "data") {
      data = { offset: at + 8, size: Math.min(size, buffer.byteLength - at - 8) };
    }
    at += 8 + size + (size % 2);
  }
  if (!format || !data) return null;
  const { code, channels, bits } = format, width = bits / 8;
  const frames = Math.floor(data.size / (width * channels));
  const read = {
    "1:8": (p) => (view.getUint8(p) - 128) / 128,
    "1:16": (p) => view.getInt16(p, true) / 32768,
    "1:24": (p) => ((view.getInt8(p + 2) << 16) | (view.getUint8(p + 1) << 8) | view.getUint8(p)) / 8388608,
    "1:32": (p) => view.getInt32(p, true) / 2147483648,
    "3:32": (p) => view.getFloat32(p, true),
    "3:64": (p) => view.getFloat64(p, true),
  }[`${code}:${bits}`];
  if (!read || frames === 0) return null;
  // each sample rounded to float32 as libsndfile returns it, then the channel mean in float32
  const samples = new Float32Array(frames), one = new Float32Array(1);
  for (let t = 0; t < frames; t++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) { one[0] = read(data.offset + (t * channels + c) * width); sum += one[0]; }
    samples[t] = sum / channels;
  }
  return { rate: format.rate, samples };
}

async function browserDecode(buffer) {
  const context = new OfflineAudioContext(1, 1, settings.sample_rate);
  const audio = await context.decodeAudioData(buffer);
  const samples = new Float32Array(audio.length);
  for (let c = 0; c < audio.numberOfChannels; c++) {
    const channel = audio.getChannelData(c);
    for (let t = 0; t < audio.length; t++) samples[t] += channel[t] / audio.numberOfChannels;
  }
  return samples;
}

async function classify(file) {
  $("error").textContent = ""; $("note").textContent = ""; $("result").innerHTML = "";
  delete document.body.dataset.probabilities;
  await ready;
  if (!session) return;                 // the error loading the model is already shown
  const buffer = await file.arrayBuffer();
  let samples, exact = true;
  const wav = decodeWav(buffer.slice(0));
  if (wav && wav.rate === settings.sample_rate) {
    samples = wav.samples;
  } else {
    exact = false;
    try { samples = await browserDecode(buffer); }
    catch (e) { $("error").textContent = `${file.name}: not a sound file this browser can decode`; return; }
    $("note").textContent = (wav ? `${file.name} is at ${wav.rate} Hz; ` : `${file.name} is not a WAV file we read; `) +
      `the browser decoded and resampled it to ${settings.sample_rate} Hz, which differs slightly from ` +
      `autograd-lab's resampling: the probabilities are close, not identical.`;
  }
  if (samples.length === 0) { $("error").textContent = `${file.name}: no samples`; return; }
  const input = new ort.Tensor("float32", samples, [1, samples.length]);
  const output = await session.run({ waveform: input });
  const p = Array.from(output.probabilities.data);
  const probabilities = Object.fromEntries(settings.classes.map((c, k) => [c, p[k]]));
  const order = settings.classes.map((c, k) => k).sort((a, b) => p[b] - p[a]);
  $("status").textContent = `${file.name}: ${settings.classes[order[0]]}`;
  for (const k of order) {
    const row = $("result").insertRow();
    row.insertCell().textContent = settings.classes[k];
    row.insertCell().textContent = p[k].toFixed(3);
    const bar = document.createElement("div");
    bar.className = "bar"; bar.style.width = `${(100 * p[k]).toFixed(1)}%`;
    row.insertCell().appendChild(bar);
  }
  document.body.dataset.exact = exact ? "1" : "0";
  document.body.dataset.probabilities = JSON.stringify({ file: file.name, probabilities });
}

const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over");
  if (e.dataTransfer.files.length) classify(e.dataTransfer.files[0]).catch((err) => { $("error").textContent = String(err); });
});
$("file").addEventListener("change", (e) => {
  if (e.target.files.length) classify(e.target.files[0]).catch((err) => { $("error").textContent = String(err); });
});
</script>
</body>
</html>
"""
