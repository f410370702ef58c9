// The interactive graph viewer and the backprop stepper of autograd_lab (one renderer).
// Data comes from a JSON script element; every piece of user text reaches the page
// through textContent or setAttribute, never as markup. Our own layout: columns by
// depth, ordered by the mean position of their inputs, wrapped into bands.
"use strict";
(function () {
  const G = JSON.parse(document.getElementById("graph").textContent);
  const SVGNS = "http://www.w3.org/2000/svg";
  const svg = document.getElementById("canvas");
  const world = document.createElementNS(SVGNS, "g");
  svg.appendChild(world);
  const tip = document.getElementById("tip");
  const expanded = new Set();
  if (G.expand) G.groups.forEach((_, g) => expanded.add(g));
  let mode = G.mode;                  // "forward" or "backward"
  let view = { x: 20, y: 20, k: 1 };
  let boxes = {};                     // item id -> {x, y, w, h}
  const stepper = G.steps ? { k: 0, timer: null } : null;
  const MIN_COLS_PER_BAND = 4, MIN_COL_GAP = 60, MIN_ROW_GAP = 14, H = 36;
  const COARSE_ITEMS = 1500, COARSE_ZOOM = 0.35;
  // the canvas size, read once before anything is drawn: reading it after forces the browser
  // to lay out thousands of SVG elements (2 s for 5,000 nodes)
  let canvas = size();
  window.addEventListener("resize", () => { canvas = size(); });
  function size() {        // (inside an iframe that is not laid out yet, the window's size)
    const r = svg.getBoundingClientRect();
    return r.height > 50 ? r : { width: window.innerWidth || 1200, height: 0.72 * (window.innerHeight || 800) };
  }

  let coarse = false, moved = false;

  function el(tag, attrs, parent) {
    const e = document.createElementNS(SVGNS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function itemOf(i) {
    const g = G.nodes[i].g;
    return g >= 0 && !expanded.has(g) ? "g" + g : "n" + i;
  }

  // ---- what the steps have revealed so far (stepper) -------------------------------
  function revealed() {
    if (!stepper) return null;
    const seen = new Set(), sent = new Set();
    for (let s = 0; s <= stepper.k; s++) {
      for (const i of G.steps[s].reveal) seen.add(i);
      for (const i of G.steps[s].send) sent.add(i);
    }
    return { seen, sent };
  }

  function secondLine(i, shown) {
    const n = G.nodes[i];
    if (mode === "forward") return n.v;
    if (n.gr === null) return n.v;
    if (shown && !shown.seen.has(i)) return "grad ?";
    return "grad " + n.gr;
  }

  // ---- layout --------------------------------------------------------------------------
  function layout() {
    const items = new Map();          // id -> {id, lines, kind, members}
    const preds = new Map();
    const shown = revealed();
    G.nodes.forEach((n, i) => {
      const id = itemOf(i);
      if (!items.has(id)) {
        if (id[0] === "g") {
          const g = G.groups[n.g];
          const out = g.out;
          let line = mode === "forward" || G.nodes[out].gr === null ? g.v : "grad " + G.nodes[out].gr;
          if (shown && !shown.seen.has(out)) line = "grad ?";
          items.set(id, { id, lines: ["▸ " + g.name, g.type + "  " + line], kind: "group", group: n.g, out });
        } else {
          items.set(id, { id, lines: [n.name + (n.op ? " = " + n.op : ""), secondLine(i, shown)],
                          kind: n.k, node: i });
        }
        preds.set(id, new Set());
      }
    });
    const links = new Map();          // "a>b" -> {a, b, uses: [edge index]}
    G.edges.forEach((e, k) => {
      const a = itemOf(e[0]), b = itemOf(e[1]);
      if (a === b) return;
      const key = a + ">" + b;
      if (!links.has(key)) links.set(key, { a, b, uses: [] });
      links.get(key).uses.push(k);
      preds.get(b).add(a);
    });
    // longest-path depth; items come in the nodes' topological order, a few passes settle groups
    const depth = new Map();
    for (let pass = 0; pass < 4; pass++) {
      let changed = false;
      for (const id of items.keys()) {
        let d = 0;
        for (const p of preds.get(id)) if (p !== id) d = Math.max(d, (depth.get(p) || 0) + 1);
        if (depth.get(id) !== d) { depth.set(id, d); changed = true; }
      }
      if (!changed) break;
    }
    // a leaf sits just before its first consumer, not with every other leaf in column 0
    const firstUse = new Map();
    for (const { a, b } of links.values()) {
      if (preds.get(a).size === 0) firstUse.set(a, Math.min(firstUse.get(a) ?? Infinity, depth.get(b) - 1));
    }
    for (const [id, d] of firstUse) depth.set(id, Math.max(0, d));
    const columns = [];
    for (const [id, it] of items) {
      const d = depth.get(id);
      (columns[d] = columns[d] || []).push(it);
      // as wide as the widest text the box will show at any step or in either mode: the
      // layout does not move when a gradient is revealed
      const n = it.node !== undefined ? G.nodes[it.node] : G.nodes[it.out];
      const chars = Math.max(...it.lines.map(s => s.length), n.v.length + 2, n.gr === null ? 0 : n.gr.length + 7);
      it.w = Math.min(420, 7 * chars + 18);
      it.h = H;
    }
    // with chain-rule labels on the edges, the gaps make room for the longest label
    let longest = 0;
    if (mode === "backward" && links.size <= 400) {
      for (const { uses } of links.values()) if (uses.length === 1) longest = Math.max(longest, G.edges[uses[0]][2].length);
    }
    const COL_GAP = Math.max(MIN_COL_GAP, 6.5 * longest + 24), ROW_GAP = longest ? 34 : MIN_ROW_GAP;
    const row = new Map();
    boxes = {};
    // columns per band: enough that the whole picture comes out about as wide as the canvas
    // is, relative to its height (a 3,750-column chain in bands of 30 was a thin strip)
    let sumW = 0, maxH = 0, n = 0;
    columns.forEach(col => {
      if (!col) return;
      n++; sumW += Math.max(...col.map(it => it.w)) + COL_GAP;
      maxH = Math.max(maxH, col.length * (H + ROW_GAP));
    });
    const aspect = Math.min(3, Math.max(0.5, canvas.width / Math.max(canvas.height, 1)));
    const perBand = Math.max(MIN_COLS_PER_BAND, Math.round(Math.sqrt(aspect * n * (maxH + 80) / Math.max(sumW / n, 1))));
    let bandTop = 0, x = 0, bandBottom = 0, placed = 0;
    columns.forEach((col, c) => {
      if (!col) return;
      if (placed > 0 && placed % perBand === 0) { bandTop = bandBottom + 80; x = 0; }
      placed++;
      col.sort((p, q) => bary(p) - bary(q));
      col.forEach((it, r) => row.set(it.id, r));
      const w = Math.max(...col.map(it => it.w));
      let y = bandTop;
      for (const it of col) {
        boxes[it.id] = { x: x + (w - it.w) / 2, y, w: it.w, h: it.h, it };
        y += it.h + ROW_GAP;
      }
      bandBottom = Math.max(bandBottom, y);
      x += w + COL_GAP;
    });
    function bary(it) {
      const ps = [...preds.get(it.id)].filter(p => row.has(p));
      return ps.length ? ps.reduce((s, p) => s + row.get(p), 0) / ps.length : 0;
    }
    return { items, links };
  }

  // ---- drawing -----------------------------------------------------------------------------
  function render() {
    const { items, links } = layout();
    const shown = revealed();
    world.replaceChildren();
    const maxMag = Math.max(1e-300, ...G.edges.map(e => e[3] || 0));
    const edgeLayer = el("g", { class: "edges" }, world);
    const labelEdges = links.size <= 400;
    // zoomed far out on a big graph, text cannot be read: draw boxes and one path for all
    // edges (5,000 nodes: a few thousand elements instead of 30,000), the rest on zooming in
    coarse = items.size > COARSE_ITEMS && view.k < COARSE_ZOOM;
    if (coarse) {
      let d = "";
      for (const { a, b } of links.values()) {
        const p = boxes[a], q = boxes[b];
        d += `M${p.x + p.w},${p.y + p.h / 2}L${q.x},${q.y + q.h / 2}`;
      }
      el("path", { d, class: "edge" }, edgeLayer);
    }
    for (const { a, b, uses } of coarse ? [] : links.values()) {
      const p = boxes[a], q = boxes[b];
      const x1 = p.x + p.w, y1 = p.y + p.h / 2, x2 = q.x, y2 = q.y + q.h / 2;
      const path = el("path", { d: `M${x1},${y1} C${x1 + 30},${y1} ${x2 - 30},${y2} ${x2},${y2}`,
                                class: "edge" }, edgeLayer);
      const mag = uses.reduce((s, k) => Math.max(s, G.edges[k][3] || 0), 0);
      const sent = !shown || uses.every(k => shown.sent.has(G.edges[k][1]));
      if (mode === "backward" && sent && mag > 0) {
        const t = mag / maxMag;                       // linear, as in the drawings' default
        path.setAttribute("stroke", `rgb(${200 - 80 * t},${200 - 190 * t},${200 - 170 * t})`);
        path.setAttribute("stroke-width", (0.8 + 3.7 * t).toFixed(2));
      }
      path.setAttribute(mode === "backward" ? "marker-start" : "marker-end", "url(#arrow)");
      const label = mode === "backward" && sent && uses.length === 1 ? G.edges[uses[0]][2] : "";
      if (label && labelEdges) {
        const t = el("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 3, class: "elabel" }, edgeLayer);
        t.textContent = label;
      }
    }
    // boxes around expanded groups, with a header that collapses them
    const spans = new Map();
    for (const id in boxes) {
      const it = boxes[id].it;
      if (it.node === undefined || G.nodes[it.node].g < 0) continue;
      const g = G.nodes[it.node].g, b = boxes[id];
      const s = spans.get(g) || { x0: Infinity, y0: Infinity, x1: -Infinity, y1: -Infinity };
      s.x0 = Math.min(s.x0, b.x); s.y0 = Math.min(s.y0, b.y);
      s.x1 = Math.max(s.x1, b.x + b.w); s.y1 = Math.max(s.y1, b.y + b.h);
      spans.set(g, s);
    }
    for (const [g, s] of spans) {
      const frame = el("g", { class: "frame", "data-group": g }, world);
      el("rect", { x: s.x0 - 8, y: s.y0 - 24, width: s.x1 - s.x0 + 16, height: s.y1 - s.y0 + 32, rx: 8 }, frame);
      const t = el("text", { x: s.x0 - 4, y: s.y0 - 10, class: "frame-label" }, frame);
      t.textContent = "▾ " + G.groups[g].name + " (click to collapse)";
      t.addEventListener("click", ev => { ev.stopPropagation(); expanded.delete(g); render(); fit(); });
    }
    const current = stepper ? G.steps[stepper.k].node : null;
    for (const id in boxes) {
      const b = boxes[id], it = b.it;
      if (coarse) {
        const r = el("rect", { class: "node kind-" + it.kind, id: "item-" + id, x: b.x, y: b.y,
                               width: b.w, height: b.h, "data-item": id }, world);
        if (it.node !== undefined) r.setAttribute("data-name", G.nodes[it.node].name);
        continue;
      }
      const node = el("g", { class: "node kind-" + it.kind, id: "item-" + id, "data-item": id,
                             transform: `translate(${b.x},${b.y})` }, world);
      if (it.node !== undefined) node.setAttribute("data-name", G.nodes[it.node].name);
      if ((it.node !== undefined && it.node === current) ||
          (it.group !== undefined && current !== null && G.nodes[current].g === it.group)) node.classList.add("current");
      el("rect", { width: b.w, height: b.h, rx: it.kind === "group" ? 2 : 6 }, node);
      it.lines.forEach((line, k) => {
        const t = el("text", { x: 8, y: 14 + 14 * k, class: k ? "line2" : "line1" }, node);
        t.textContent = line;
      });
    }
    applySearch();
    applyView();
    document.getElementById("mode").textContent = "showing: " + mode + " pass";
  }

  // one listener each for every node (delegation): thousands of listeners cost time to attach
  world.addEventListener("mouseover", ev => {
    const n = ev.target.closest("[data-item]");
    if (n) showTip(boxes[n.dataset.item].it, ev); else tip.hidden = true;
  });
  world.addEventListener("mousemove", ev => { if (!tip.hidden) moveTip(ev); });
  world.addEventListener("mouseleave", () => { tip.hidden = true; });
  world.addEventListener("click", ev => {
    const n = ev.target.closest("[data-item]");
    const it = n && boxes[n.dataset.item].it;
    if (it && it.kind === "group" && !moved) { expanded.add(it.group); render(); fit(); }
  });

  function showTip(it, ev) {
    const shown = revealed();
    let lines = it.node !== undefined ? G.nodes[it.node].info.slice() : G.groups[it.group].info.slice();
    if (shown) {
      const i = it.node !== undefined ? it.node : it.out;
      if (!shown.seen.has(i)) lines = lines.filter(l => !l.startsWith("grad"));
    }
    if (it.kind === "group") lines.push("click to expand");
    tip.replaceChildren(...lines.map(l => { const d = document.createElement("div"); d.textContent = l; return d; }));
    tip.hidden = false;
    moveTip(ev);
  }
  function moveTip(ev) { tip.style.left = ev.clientX + 14 + "px"; tip.style.top = ev.clientY + 14 + "px"; }

  // ---- pan and zoom ----------------------------------------------------------------------
  function applyView() { world.setAttribute("transform", `translate(${view.x},${view.y}) scale(${view.k})`); }
  function zoomAt(factor, cx, cy) {
    const k = Math.min(8, Math.max(0.02, view.k * factor));
    view.x = cx - (cx - view.x) * (k / view.k);
    view.y = cy - (cy - view.y) * (k / view.k);
    view.k = k;
    if (coarse !== (Object.keys(boxes).length > COARSE_ITEMS && k < COARSE_ZOOM)) render(); else applyView();
  }
  function fit(redraw = true) {
    const all = Object.values(boxes);
    if (!all.length) return;
    let x1 = 0, y1 = 0;
    for (const b of all) { x1 = Math.max(x1, b.x + b.w); y1 = Math.max(y1, b.y + b.h); }
    const r = canvas;
    view.k = Math.min(1.5, (r.width - 40) / Math.max(x1, 1), (r.height - 40) / Math.max(y1, 1));
    view.x = 20; view.y = 20;
    // zoomed out past the point where text is drawn (or back in): draw again
    if (redraw && coarse !== (all.length > COARSE_ITEMS && view.k < COARSE_ZOOM)) render(); else applyView();
  }
  function centerOn(id) {
    const b = boxes[id], r = canvas;
    if (!b) return;
    view.k = Math.max(view.k, 0.8);
    view.x = r.width / 2 - (b.x + b.w / 2) * view.k;
    view.y = r.height / 2 - (b.y + b.h / 2) * view.k;
    if (coarse) render(); else applyView();
  }
  svg.addEventListener("wheel", ev => {
    ev.preventDefault();
    const r = svg.getBoundingClientRect();
    zoomAt(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - r.left, ev.clientY - r.top);
  }, { passive: false });
  let drag = null;
  svg.addEventListener("mousedown", ev => { moved = false; drag = { x: ev.clientX, y: ev.clientY, vx: view.x, vy: view.y }; });
  window.addEventListener("mousemove", ev => {
    if (!drag) return;
    if (Math.abs(ev.clientX - drag.x) + Math.abs(ev.clientY - drag.y) > 3) moved = true;
    view.x = drag.vx + ev.clientX - drag.x; view.y = drag.vy + ev.clientY - drag.y; applyView();
  });
  window.addEventListener("mouseup", () => { drag = null; });
  const center = () => [canvas.width / 2, canvas.height / 2];
  document.getElementById("zoom-in").onclick = () => zoomAt(1.25, ...center());
  document.getElementById("zoom-out").onclick = () => zoomAt(0.8, ...center());
  document.getElementById("fit").onclick = () => fit();

  // ---- search ----------------------------------------------------------------------------
  const search = document.getElementById("search");
  function applySearch() {
    const q = search.value.trim().toLowerCase();
    let count = 0, first = null;
    for (const id in boxes) {
      const it = boxes[id].it;
      const names = it.node !== undefined ? [G.nodes[it.node].name]
        : G.nodes.filter(n => n.g === it.group).map(n => n.name).concat([G.groups[it.group].name]);
      const hit = q !== "" && names.some(n => n.toLowerCase().includes(q));
      document.getElementById("item-" + id).classList.toggle("match", hit);
      if (hit) { count++; if (first === null) first = id; }
    }
    document.getElementById("matches").textContent = q ? count + " match" + (count === 1 ? "" : "es") : "";
    return first;
  }
  search.addEventListener("input", applySearch);
  search.addEventListener("keydown", ev => { if (ev.key === "Enter") { const f = applySearch(); if (f) centerOn(f); } });

  const toggle = document.getElementById("toggle-mode");
  if (G.hasGrad && !stepper) {
    toggle.onclick = () => { mode = mode === "forward" ? "backward" : "forward"; render(); };
  } else toggle.hidden = true;
  // a new layout is shown whole (fit), as after opening the page
  document.getElementById("expand-all").onclick = () => { G.groups.forEach((_, g) => expanded.add(g)); render(); fit(); };
  document.getElementById("collapse-all").onclick = () => { expanded.clear(); render(); fit(); };

  // ---- the stepper ---------------------------------------------------------------------------
  if (stepper) {
    document.getElementById("stepper").hidden = false;
    const slider = document.getElementById("slider");
    slider.max = G.steps.length - 1;
    window.showStep = function (k) {
      stepper.k = Math.max(0, Math.min(G.steps.length - 1, k));
      const s = G.steps[stepper.k];
      slider.value = stepper.k;
      document.getElementById("counter").textContent = "step " + stepper.k + " of " + (G.steps.length - 1);
      document.getElementById("step-title").textContent = s.title;
      document.getElementById("shown-grad").textContent = s.upstream;
      document.getElementById("chain").textContent = s.chain;
      const list = document.getElementById("contributions");
      list.replaceChildren(...s.lines.map(t => { const li = document.createElement("li"); li.textContent = t; return li; }));
      const shown = revealed();
      const table = document.getElementById("grad-table");
      table.replaceChildren(...[...shown.seen].filter(i => G.nodes[i].gr !== null).map(i => {
        const tr = document.createElement("tr");
        for (const text of [G.nodes[i].name, G.nodes[i].gr]) {
          const td = document.createElement("td"); td.textContent = text; tr.appendChild(td);
        }
        return tr;
      }));
      render();
    };
    const play = document.getElementById("play");
    function stop() { clearInterval(stepper.timer); stepper.timer = null; play.textContent = "Play"; }
    document.getElementById("prev").onclick = () => { stop(); showStep(stepper.k - 1); };
    document.getElementById("next").onclick = () => { stop(); showStep(stepper.k + 1); };
    slider.oninput = () => { stop(); showStep(Number(slider.value)); };
    play.onclick = () => {
      if (stepper.timer) return stop();
      if (stepper.k >= G.steps.length - 1) showStep(0);
      play.textContent = "Pause";
      stepper.timer = setInterval(() => {
        if (stepper.k >= G.steps.length - 1) stop(); else showStep(stepper.k + 1);
      }, 900);
    };
    window.addEventListener("keydown", ev => {
      if (ev.target === search) return;
      if (ev.key === "ArrowRight") { stop(); showStep(stepper.k + 1); }
      else if (ev.key === "ArrowLeft") { stop(); showStep(stepper.k - 1); }
      else if (ev.key === " ") { ev.preventDefault(); play.click(); }
    });
    layout(); fit(false);
    showStep(0);
  } else {
    layout(); fit(false);
    render();
  }
  document.body.setAttribute("data-ready", "1");
})();
