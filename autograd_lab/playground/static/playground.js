"use strict";
// The page draws; the server (Python, autograd_lab's engine) computes. Every number
// shown comes from a JSON reply. User text (class labels, file names, errors) only
// ever reaches the page through textContent.
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const SETTINGS = ["data", "classes", "n", "noise", "ratio", "batch", "features", "layers", "act",
                  "lr", "reg", "regrate", "opt", "sched", "dropout", "seed"];
const CLASS_COLOURS = [[245, 147, 34], [8, 119, 189], [44, 160, 44], [148, 103, 189], [214, 39, 40], [140, 86, 75]];
const $ = (id) => document.getElementById(id);
let snap = null, playing = false, busy = false, trace = null, traceStep = 0, selected = null;
let view = "forward";

// ---- talking to the server -------------------------------------------------------------
async function api(path, body, raw) {
  const sep = path.includes("?") ? "&" : "?";
  const options = body === undefined ? {} : {method: "POST", body: raw ? body : JSON.stringify(body)};
  const reply = await fetch(path + sep + "token=" + encodeURIComponent(TOKEN), options);
  let data;
  try { data = await reply.json(); } catch (e) { data = {error: "the server sent no JSON (status " + reply.status + ")"}; }
  if (!reply.ok) throw new Error(data.error || ("status " + reply.status));
  return data;
}
function say(text) { $("message").textContent = text || ""; }

const LIVE = ["lr", "reg", "regrate", "sched", "batch", "dropout"];   // these keep the network
async function change(settings) {
  const keepsPoint = Object.keys(settings).every(k => LIVE.includes(k));
  if (!keepsPoint) clearTrace();
  try {
    show(await api("/api/config", settings));
    say("");
    if (keepsPoint) await refreshTrace();
  } catch (e) { say(e.message); if (snap) syncControls(snap.settings); }
}
function clearTrace() { trace = null; selected = null; $("trace").hidden = true; }

// ---- settings <-> URL <-> controls -------------------------------------------------------
function urlSettings() {
  const q = new URLSearchParams(location.search), out = {};
  for (const key of SETTINGS) if (q.has(key)) out[key] = q.get(key);
  return out;
}
function writeURL(settings) {
  const q = new URLSearchParams();
  q.set("token", TOKEN);
  for (const key of SETTINGS) q.set(key, String(settings[key]));
  history.replaceState(null, "", "?" + q.toString());
}
function setSelect(el, value) {
  const text = String(value);
  let found = [...el.options].find(o => Number(o.value) === Number(text) && text !== "" && !isNaN(Number(text)))
           || [...el.options].find(o => o.value === text);
  if (!found) { found = new Option(text, text); el.add(found); }
  el.value = found.value;
}
function syncControls(s) {
  for (const el of document.querySelectorAll("select[data-setting]")) setSelect(el, s[el.dataset.setting]);
  for (const key of ["ratio", "noise", "batch"]) { $(key).value = s[key]; $(key + "-text").textContent = s[key]; }
  for (const b of document.querySelectorAll(".dataset")) b.classList.toggle("chosen", b.dataset.name === s.data);
  const feats = s.features.split(",");
  for (const c of document.querySelectorAll(".feature")) c.checked = feats.includes(c.value);
  $("classes").disabled = s.data === "xor" || s.data === "csv";
  const layers = s.layers === "" ? [] : s.layers.split(",").map(Number);
  $("layer-count").textContent = layers.length;
  $("layer-word").textContent = layers.length === 1 ? "hidden layer" : "hidden layers";
  const box = $("layer-controls");
  box.replaceChildren(...layers.map((n, l) => {
    const span = document.createElement("span");
    const minus = document.createElement("button"), plus = document.createElement("button");
    minus.textContent = "−"; plus.textContent = "+";
    minus.className = "neurons-minus"; plus.className = "neurons-plus";
    minus.onclick = () => setLayers(layers.map((k, i) => i === l ? k - 1 : k).filter(k => k > 0));
    plus.onclick = () => setLayers(layers.map((k, i) => i === l ? Math.min(8, k + 1) : k));
    span.append(minus, " layer " + (l + 1) + ": " + n + " neurons ", plus);
    return span;
  }));
  writeURL(s);
}
function setLayers(layers) { change({layers: layers.join(",")}); }

// ---- drawing helpers ------------------------------------------------------------------
function diverging(v) {        // -1 orange .. 0 light grey .. +1 blue, as TF Playground
  const t = Math.max(-1, Math.min(1, v)), base = [232, 234, 235];
  const end = t < 0 ? CLASS_COLOURS[0] : CLASS_COLOURS[1], a = Math.abs(t);
  return base.map((b, i) => Math.round(b + (end[i] - b) * a));
}
function pictureCanvas(values, cells, colour) {
  const c = document.createElement("canvas");
  c.width = c.height = cells;
  const ctx = c.getContext("2d"), img = ctx.createImageData(cells, cells);
  for (let k = 0; k < cells * cells; k++) {
    const [r, g, b] = colour(k);
    img.data.set([r, g, b, 255], 4 * k);
  }
  ctx.putImageData(img, 0, 0);
  return c;
}
function boundaryCanvas(s) {
  return pictureCanvas(null, s.grid, (k) => {
    const col = CLASS_COLOURS[s.boundary.cls[k] % CLASS_COLOURS.length], a = 0.15 + 0.55 * s.boundary.conf[k];
    return col.map(c => Math.round(255 + (c - 255) * a));
  });
}
function fmt(x) {
  if (x === null || x === undefined) return "—";
  const a = Math.abs(x);
  return (a !== 0 && (a < 1e-3 || a >= 1e5)) ? x.toExponential(3) : x.toFixed(4);
}

// ---- the output: decision boundary, points, loss curve -------------------------------------
function toCanvas(xy, s, size) { return [(xy[0] + s.domain) / (2 * s.domain) * size, (s.domain - xy[1]) / (2 * s.domain) * size]; }
function drawBoundary(s) {
  const c = $("boundary"), ctx = c.getContext("2d");
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(boundaryCanvas(s), 0, 0, c.width, c.height);
  const subsets = $("show-test").checked ? ["train", "test"] : ["train"];
  for (const subset of subsets) {
    const pts = s.points[subset];
    pts.xy.forEach((xy, i) => {
      const [x, y] = toCanvas(xy, s, c.width), col = CLASS_COLOURS[pts.label[i] % CLASS_COLOURS.length];
      ctx.beginPath(); ctx.arc(x, y, 3.5, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${col})`; ctx.fill();
      ctx.lineWidth = 1; ctx.strokeStyle = subset === "train" ? "#fff" : "#000"; ctx.stroke();
    });
  }
  if (selected && s.points[selected.subset] && selected.index < s.points[selected.subset].xy.length) {
    const [x, y] = toCanvas(s.points[selected.subset].xy[selected.index], s, c.width);
    ctx.beginPath(); ctx.arc(x, y, 8, 0, 2 * Math.PI); ctx.lineWidth = 3; ctx.strokeStyle = "#c00"; ctx.stroke();
  }
  ctx.fillStyle = "#555"; ctx.font = "10px sans-serif";
  ctx.fillText("x₁ →", c.width - 30, c.height - 4); ctx.fillText("x₂ ↑", 3, 11);
}
function drawCurve(s) {
  const c = $("curve"), ctx = c.getContext("2d"), h = s.history;
  ctx.clearRect(0, 0, c.width, c.height);
  const finite = h.flatMap(r => [r[1], r[2]]).filter(Number.isFinite);
  const top = Math.max(0.05, ...finite), last = h[h.length - 1][0] || 1;
  for (const [col, colour] of [[1, "#333"], [2, "#f59322"]]) {
    ctx.beginPath();
    h.forEach((r, i) => {
      const x = r[0] / last * (c.width - 4) + 2, y = c.height - 2 - Math.min(1, r[col] / top) * (c.height - 14);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.strokeStyle = colour; ctx.lineWidth = 1.5; ctx.stroke();
  }
  ctx.fillStyle = "#333"; ctx.font = "10px sans-serif";
  ctx.fillText("training", 4, 10); ctx.fillStyle = "#f59322"; ctx.fillText("test", 56, 10);
  ctx.fillStyle = "#777"; ctx.fillText("max " + fmt(top), c.width - 70, 10);
}

// ---- the network ------------------------------------------------------------------------
const NODE = 44, COL = 150, TOP = 30;
function layout(s) {
  const cols = s.sizes, rows = Math.max(...cols), height = TOP + rows * (NODE + 16) + 10;
  const pos = cols.map((n, l) => Array.from({length: n}, (_, j) =>
    [70 + l * COL, TOP + (rows - n) * (NODE + 16) / 2 + j * (NODE + 16)]));
  return {pos, width: 100 + (cols.length - 1) * COL + NODE, height};
}
function drawNetwork(s) {
  const c = $("network"), ctx = c.getContext("2d"), L = layout(s);
  c.width = Math.max(500, L.width + 40); c.height = L.height;
  ctx.clearRect(0, 0, c.width, c.height);
  const edgeValues = view === "backward" ? (trace ? trace.layers.map(l => toMatrix(l.edges, "dw", s, l)) : s.weight_grads)
                                          : s.weights;
  let maxAbs = 0;
  for (const m of edgeValues) for (const row of m) for (const v of row) if (Number.isFinite(v)) maxAbs = Math.max(maxAbs, Math.abs(v));
  const activeLayer = trace ? traceLayer() : null;
  edgeValues.forEach((m, l) => m.forEach((row, j) => row.forEach((v, i) => {
    const [x0, y0] = L.pos[l][i], [x1, y1] = L.pos[l + 1][j];
    const t = maxAbs > 0 ? Math.abs(v) / maxAbs : 0;
    ctx.beginPath(); ctx.moveTo(x0 + NODE, y0 + NODE / 2);
    ctx.bezierCurveTo(x0 + NODE + 40, y0 + NODE / 2, x1 - 40, y1 + NODE / 2, x1, y1 + NODE / 2);
    if (view === "backward") {
      ctx.strokeStyle = `rgba(120, 10, 90, ${0.12 + 0.88 * Math.sqrt(t)})`; ctx.lineWidth = 0.5 + 6 * Math.sqrt(t);
    } else {
      const col = v < 0 ? CLASS_COLOURS[0] : CLASS_COLOURS[1];
      ctx.strokeStyle = `rgba(${col}, ${0.25 + 0.75 * t})`; ctx.lineWidth = 0.5 + 5 * t;
    }
    if (activeLayer !== null && activeLayer === l + 1) { ctx.strokeStyle = "rgba(200, 0, 0, .85)"; }
    ctx.stroke();
  })));
  s.sizes.forEach((n, l) => {
    const pics = s.pictures[l];
    for (let j = 0; j < n; j++) {
      const [x, y] = L.pos[l][j], values = pics[j];
      let scale = 1; for (const v of values) scale = Math.max(scale, Math.abs(v));
      ctx.imageSmoothingEnabled = false;
      ctx.drawImage(pictureCanvas(values, s.neuron_grid, (k) => diverging(values[k] / scale)), x, y, NODE, NODE);
      ctx.lineWidth = activeLayer === l ? 3 : 1; ctx.strokeStyle = activeLayer === l ? "#c00" : "#999";
      ctx.strokeRect(x, y, NODE, NODE);
      if (trace) {
        const value = traceValue(l, j);
        if (value !== null) { ctx.fillStyle = "#000"; ctx.font = "10px monospace"; ctx.fillText(value, x - 6, y + NODE + 11); }
      }
    }
    ctx.fillStyle = "#555"; ctx.font = "11px sans-serif";
    const title = l === 0 ? "features" : (l === s.sizes.length - 1 ? "output" : "layer " + l);
    ctx.fillText(title, L.pos[l][0][0], 14);
  });
  s.features.forEach((name, i) => {
    const [x, y] = L.pos[0][i]; ctx.fillStyle = "#222"; ctx.font = "11px sans-serif"; ctx.textAlign = "right"; ctx.fillText(name, x - 4, y + NODE / 2 + 4); ctx.textAlign = "left";
  });
}
function toMatrix(edges, key, s, layer) {
  const out = Array.from({length: layer.neurons.length}, () => []);
  for (const e of edges) out[e.j][e.i] = e[key];
  return out;
}

// ---- one point's forward and backward pass ------------------------------------------------
// Steps: 0 inputs; 1..L forward through layer l; L+1 the loss; then backward from layer L to 1.
function traceSteps() { const L = trace.layers.length; return 2 * L + 2; }
function traceLayer() {                     // the network column highlighted at this step
  const L = trace.layers.length, k = traceStep;
  if (k <= L) return k;
  if (k === L + 1) return L;
  return 2 * L + 2 - k;
}
function traceValue(col, j) {
  const L = trace.layers.length, k = traceStep;
  if (col === 0) return k <= L + 1 || col < traceLayer() ? "x=" + fmt(trace.inputs[j].value) : null;
  const n = trace.layers[col - 1].neurons[j];
  if (k <= L + 1) return col <= k ? "a=" + fmt(n.a) : null;
  return col >= traceLayer() ? "∂z=" + fmt(n.dz) : "a=" + fmt(n.a);
}
function li(text, cls) { const el = document.createElement("li"); el.textContent = text; if (cls) el.className = cls; return el; }
function showTraceStep(k) {
  const L = trace.layers.length, act = trace.activation;
  traceStep = Math.max(0, Math.min(traceSteps() - 1, k));
  $("trace-step-label").textContent = "step " + traceStep + " of " + (traceSteps() - 1);
  const lines = [];
  let title;
  if (traceStep === 0) {
    title = "Forward: the point's features";
    trace.inputs.forEach(x => lines.push(li(x.label + " = " + fmt(x.value))));
  } else if (traceStep <= L) {
    const layer = trace.layers[traceStep - 1], last = traceStep === L;
    title = "Forward through " + (last ? "the output layer" : "hidden layer " + traceStep);
    layer.neurons.forEach((n, j) => {
      const terms = layer.edges.filter(e => e.j === j).map(e => fmt(e.w) + "·" + fmt(e.x)).join(" + ");
      lines.push(li(n.name + ": z = " + terms + " + " + fmt(n.b) + " = " + fmt(n.z), "neuron"));
      if (!last && act !== "linear") lines.push(li("a = " + act + "(z) = " + fmt(n.a)));
    });
  } else if (traceStep === L + 1) {
    title = "The loss (cross-entropy with the label " + trace.label + ")";
    lines.push(li("loss = " + fmt(trace.loss), "neuron"));
    trace.layers[L - 1].neurons.forEach(n => lines.push(li("∂loss/∂" + n.name + " = " + fmt(n.dz))));
  } else {
    const l = 2 * L + 2 - traceStep, layer = trace.layers[l - 1], last = l === L;
    title = "Backward through " + (last ? "the output layer" : "hidden layer " + l) + ": local × upstream on every edge";
    layer.neurons.forEach((n, j) => {
      if (!last && act !== "linear")
        lines.push(li(n.name + ": ∂loss/∂a = " + fmt(n.da) + " × local " + act + "′(z) = " + fmt(n.local) + " → ∂loss/∂z = " + fmt(n.dz), "neuron"));
      else lines.push(li(n.name + ": ∂loss/∂z = " + fmt(n.dz), "neuron"));
      lines.push(li("bias: local 1 × upstream " + fmt(n.dz) + " = " + fmt(n.db)));
      layer.edges.filter(e => e.j === j).forEach(e => {
        lines.push(li(e.name + ": local x = " + fmt(e.x) + " × upstream " + fmt(e.upstream) + " = " + fmt(e.dw)
                      + "   (to the input: w " + fmt(e.w) + " × " + fmt(e.upstream) + " = " + fmt(e.dx) + ")"));
      });
    });
  }
  $("trace-step-title").textContent = title;
  $("trace-lines").replaceChildren(...lines);
  const layerNow = traceStep > L + 1 ? 2 * L + 2 - traceStep : null;
  for (const tr of $("trace-grads").querySelectorAll("tr[data-layer]")) tr.classList.toggle("current", Number(tr.dataset.layer) === layerNow);
  drawNetwork(snap);
}
function showTrace(t) {
  trace = t;
  $("trace").hidden = false;
  $("trace-title").textContent = "Point " + t.index + " of the " + t.subset + " set at (" + fmt(t.xy[0]) + ", " + fmt(t.xy[1])
                                  + "), label " + t.label + ": loss " + fmt(t.loss);
  const rows = [];
  const head = document.createElement("tr");
  for (const text of ["parameter", "value", "∂loss/∂parameter"]) { const th = document.createElement("th"); th.textContent = text; head.appendChild(th); }
  rows.push(head);
  t.layers.forEach((layer, l) => {
    const add = (name, value, grad) => {
      const tr = document.createElement("tr"); tr.dataset.layer = l + 1; tr.dataset.name = name;
      for (const text of [name, fmt(value), fmt(grad)]) { const td = document.createElement("td"); td.textContent = text; tr.appendChild(td); }
      tr.lastChild.className = "grad"; rows.push(tr);
    };
    layer.edges.forEach(e => add(e.name, e.w, e.dw));
    layer.neurons.forEach((n, j) => add("b" + (l + 1) + "[" + j + "]", n.b, n.db));
  });
  $("trace-grads").replaceChildren(...rows);
  $("trace-drawing").replaceChildren();
  showTraceStep(traceSteps() - 1);           // open at the end of the backward pass
}
async function pickPoint(event) {
  if (!snap) return;
  const c = $("boundary"), r = c.getBoundingClientRect();
  const px = (event.clientX - r.left) * c.width / r.width, py = (event.clientY - r.top) * c.height / r.height;
  let best = null;
  for (const subset of ($("show-test").checked ? ["train", "test"] : ["train"])) {
    snap.points[subset].xy.forEach((xy, index) => {
      const [x, y] = toCanvas(xy, snap, c.width), d = Math.hypot(x - px, y - py);
      if (d < 10 && (!best || d < best.d)) best = {subset, index, d};
    });
  }
  if (!best) return;
  selected = {subset: best.subset, index: best.index};
  try { showTrace(await api("/api/trace", selected)); drawBoundary(snap); } catch (e) { say(e.message); }
}
async function refreshTrace() {
  if (!selected) return;
  try { const step = traceStep; showTrace(await api("/api/trace", selected)); showTraceStep(step); }
  catch (e) { clearTrace(); }
}
async function drawGraph() {
  if (!selected) return;
  $("trace-drawing").textContent = "drawing…";
  try {
    const reply = await api("/api/drawing", selected);
    const doc = new DOMParser().parseFromString(reply.svg, "image/svg+xml");
    const svg = doc.documentElement;
    if (svg.nodeName !== "svg") throw new Error("the drawing is not SVG");
    $("trace-drawing").replaceChildren(document.importNode(svg, true));
  } catch (e) { $("trace-drawing").textContent = e.message; }
}

// ---- loss landscape ---------------------------------------------------------------------------
function weightNames(s) {
  const names = [];
  for (let l = 0; l + 1 < s.sizes.length; l++)
    for (let j = 0; j < s.sizes[l + 1]; j++) for (let i = 0; i < s.sizes[l]; i++) names.push("w" + (l + 1) + "[" + j + "," + i + "]");
  return names;
}
function fillWeightChoices(s) {
  const names = weightNames(s), a = $("land-a"), b = $("land-b");
  if (a.options.length === names.length && [...a.options].every((o, i) => o.textContent === names[i])) return;
  for (const [el, pick] of [[a, 0], [b, 1]]) el.replaceChildren(...names.map((n, i) => new Option(n, String(i), false, i === pick)));
}
async function drawLandscape() {
  try {
    const r = await api("/api/landscape", {a: Number($("land-a").value), b: Number($("land-b").value)});
    const c = $("land-canvas"), ctx = c.getContext("2d"), n = r.loss.length;
    const flat = r.loss.flat().filter(Number.isFinite), lo = Math.log(Math.min(...flat) + 1e-6), hi = Math.log(Math.max(...flat) + 1e-6);
    const pic = pictureCanvas(null, n, (k) => {
      const v = r.loss[Math.floor(k / n)][k % n], t = hi > lo ? (Math.log(v + 1e-6) - lo) / (hi - lo) : 0;
      return [Math.round(30 + 225 * t), Math.round(60 + 150 * (1 - Math.abs(t - 0.5) * 2)), Math.round(120 * (1 - t) + 40)];
    });
    ctx.imageSmoothingEnabled = true; ctx.drawImage(pic, 0, 0, c.width, c.height);
    const X = (v) => (v - r.x[0]) / (r.x[n - 1] - r.x[0]) * c.width, Y = (v) => (r.y[n - 1] - v) / (r.y[n - 1] - r.y[0]) * c.height;
    ctx.beginPath(); r.path.forEach((p, i) => i ? ctx.lineTo(X(p[0]), Y(p[1])) : ctx.moveTo(X(p[0]), Y(p[1])));
    ctx.strokeStyle = "#fff"; ctx.lineWidth = 2; ctx.stroke();
    const end = r.path[r.path.length - 1];
    ctx.beginPath(); ctx.arc(X(end[0]), Y(end[1]), 5, 0, 2 * Math.PI); ctx.fillStyle = "#c00"; ctx.fill();
    $("land-note").textContent = "Training loss (log colour: dark low, light high) as " + r.names[0] + " (→, " + fmt(r.x[0]) + " … " + fmt(r.x[n - 1])
      + ") and " + r.names[1] + " (↑, " + fmt(r.y[0]) + " … " + fmt(r.y[n - 1]) + ") vary, every other weight at its current value. "
      + "White: the path these two weights took during training; red: now.";
  } catch (e) { $("land-note").textContent = e.message; }
}

// ---- everything on screen ----------------------------------------------------------------------
function show(s) {
  if (!s.points) s.points = snap.points;      // training replies leave the (unchanged) points out
  snap = s;
  syncControls(s.settings);
  $("epoch").textContent = s.epoch;
  $("train-loss").textContent = fmt(s.train_loss);
  $("test-loss").textContent = fmt(s.test_loss);
  $("file-name").textContent = s.file ? "file: " + s.file : "";
  const legend = $("class-legend");
  legend.replaceChildren(...s.classes.flatMap((name, k) => {
    const sw = document.createElement("span"); sw.className = "swatch"; sw.style.background = `rgb(${CLASS_COLOURS[k % CLASS_COLOURS.length]})`;
    const label = document.createElement("span"); label.className = "class-name"; label.textContent = name;
    return [sw, label];
  }));
  if (!Number.isFinite(s.train_loss)) say("The loss is not finite: the training diverged. Lower the learning rate and press Reset.");
  fillWeightChoices(s);
  drawBoundary(s); drawCurve(s);
  if (trace && (trace.layers.length !== s.sizes.length - 1 || trace.layers.some((l, k) => l.neurons.length !== s.sizes[k + 1])))
    clearTrace();                            // the network changed under the point's pass
  drawNetwork(s);
}

let looping = false;
async function playLoop() {
  if (looping) return;
  looping = true;
  $("play").textContent = "❚❚ Pause";
  while (playing) {
    try { show(await api("/api/train", {seconds: 0.25})); }
    catch (e) { say(e.message); playing = false; }
    await new Promise(r => setTimeout(r, 10));
  }
  await refreshTrace();
  looping = false;
  $("play").textContent = "▶ Play";     // only now: the last epochs have landed
}
function setPlaying(on) {
  playing = on;
  if (on) playLoop();
}

function wire() {
  for (const el of document.querySelectorAll("select[data-setting]"))
    el.onchange = () => change({[el.dataset.setting]: el.value});
  for (const key of ["ratio", "noise", "batch"]) {
    $(key).oninput = () => { $(key + "-text").textContent = $(key).value; };
    $(key).onchange = () => change({[key]: $(key).value});
  }
  for (const b of document.querySelectorAll(".dataset")) b.onclick = () => change({data: b.dataset.name});
  for (const c of document.querySelectorAll(".feature"))
    c.onchange = () => change({features: [...document.querySelectorAll(".feature:checked")].map(x => x.value).join(",")});
  $("add-layer").onclick = () => { const l = snap.settings.layers ? snap.settings.layers.split(",").map(Number) : []; if (l.length < 6) setLayers([...l, 2]); };
  $("remove-layer").onclick = () => { const l = snap.settings.layers ? snap.settings.layers.split(",").map(Number) : []; setLayers(l.slice(0, -1)); };
  $("play").onclick = () => setPlaying(!playing);
  $("step").onclick = async () => { if (!looping) { try { show(await api("/api/train", {epochs: 1})); await refreshTrace(); } catch (e) { say(e.message); } } };
  $("reset").onclick = async () => { setPlaying(false); try { show(await api("/api/reset", {})); await refreshTrace(); } catch (e) { say(e.message); } };
  $("show-test").onchange = () => drawBoundary(snap);
  $("boundary").onclick = pickPoint;
  $("view-forward").onchange = () => { view = "forward"; drawNetwork(snap); };
  $("view-backward").onchange = () => { view = "backward"; drawNetwork(snap); };
  $("trace-prev").onclick = () => showTraceStep(traceStep - 1);
  $("trace-next").onclick = () => showTraceStep(traceStep + 1);
  $("trace-draw").onclick = drawGraph;
  $("land-go").onclick = drawLandscape;
  $("csv-file").onchange = async () => {
    const file = $("csv-file").files[0];
    $("csv-message").textContent = "";
    if (!file) return;
    if (file.size > 1000000) { $("csv-message").textContent = file.name + ": larger than 1000 kB"; return; }
    try {
      const text = await file.text();
      setPlaying(false);
      const reply = await api("/api/upload?name=" + encodeURIComponent(file.name), text, true);
      clearTrace();
      show(reply);
      $("csv-message").textContent = "";
    } catch (e) { $("csv-message").textContent = e.message; }
    $("csv-file").value = "";
  };
  addEventListener("pagehide", () => navigator.sendBeacon("/api/bye?token=" + encodeURIComponent(TOKEN), ""));
}

async function start() {
  wire();
  try { show(await api("/api/config", urlSettings())); }
  catch (e) {
    say("The URL's settings were not used: " + e.message);
    try { show(await api("/api/state")); } catch (e2) { say(e2.message); }
  }
  document.body.dataset.ready = "1";
}
start();
