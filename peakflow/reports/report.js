"use strict";
// peakflow report: sorting, the "only flagged" filter, and each spectrum's figure, drawn on
// a canvas from its packed curves (peakflow/reports/compact.py) when its row is opened.
(function () {
  const summary = document.getElementById("pf-summary");
  const body = summary.tBodies[0];
  const width = summary.tHead.rows[0].cells.length;
  const COLOURS = { data: "#8c8c8c", base: "#2ca02c", fit: "#1f77b4", comp: "#ff7f0e",
                    band: "#d62728", flag: "rgba(214,39,40,0.08)", noise: "rgba(31,119,180,0.2)" };

  function unpack(p) {  // {o, s, d}: o + s * uint16 little-endian codes in base64
    const bytes = atob(p.d);
    const out = new Float64Array(bytes.length >> 1);
    for (let i = 0; i < out.length; i++) {
      out[i] = p.o + p.s * (bytes.charCodeAt(2 * i) | (bytes.charCodeAt(2 * i + 1) << 8));
    }
    return out;
  }

  function ticks(lo, hi, count) {  // round numbers (1, 2, 5 × 10^k) spanning [lo, hi]
    const raw = (hi - lo) / Math.max(count, 1) || 1;
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
    const out = [];
    for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
      out.push(Math.abs(t) < step * 1e-9 ? 0 : t);
    }
    return out;
  }

  function label(t) {
    const a = Math.abs(t);
    return a !== 0 && (a >= 1e5 || a < 1e-3) ? t.toExponential(1) : String(+t.toPrecision(6));
  }

  function panel(ctx, box, xr, yr, xlabel, ylabel, showX) {
    const [left, top, w, h] = box;
    const px = (x) => left + ((x - xr[0]) / (xr[1] - xr[0] || 1)) * w;
    const py = (y) => top + h - ((y - yr[0]) / (yr[1] - yr[0] || 1)) * h;
    ctx.strokeStyle = "#444"; ctx.lineWidth = 1; ctx.strokeRect(left, top, w, h);
    ctx.fillStyle = "#333"; ctx.font = "11px sans-serif";
    ctx.textAlign = "right"; ctx.textBaseline = "middle";
    for (const t of ticks(yr[0], yr[1], 4)) {
      ctx.fillText(label(t), left - 5, py(t));
      ctx.beginPath(); ctx.moveTo(left - 3, py(t)); ctx.lineTo(left, py(t)); ctx.stroke();
    }
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (const t of ticks(xr[0], xr[1], 8)) {
      ctx.beginPath(); ctx.moveTo(px(t), top + h); ctx.lineTo(px(t), top + h + 3); ctx.stroke();
      if (showX) ctx.fillText(label(t), px(t), top + h + 5);
    }
    if (showX) ctx.fillText(xlabel, left + w / 2, top + h + 20);
    ctx.save(); ctx.translate(14, top + h / 2); ctx.rotate(-Math.PI / 2);
    ctx.textBaseline = "middle"; ctx.fillText(ylabel, 0, 0); ctx.restore();
    return { px, py };
  }

  function line(ctx, map, x, y, colour, widthPx, dash, offset) {
    ctx.save(); ctx.strokeStyle = colour; ctx.lineWidth = widthPx; ctx.setLineDash(dash || []);
    ctx.beginPath();
    for (let i = 0; i < y.length; i++) {
      const X = map.px(x[i + (offset || 0)]), Y = map.py(y[i]);
      if (i === 0) ctx.moveTo(X, Y); else ctx.lineTo(X, Y);
    }
    ctx.stroke(); ctx.restore();
  }

  function range(arrays) {
    let lo = Infinity, hi = -Infinity;
    for (const a of arrays) for (const v of a) { if (v < lo) lo = v; if (v > hi) hi = v; }
    const pad = (hi - lo) * 0.05 || Math.abs(hi) * 0.05 || 1;
    return [lo - pad, hi + pad];
  }

  function legend(ctx, box, entries) {
    ctx.font = "11px sans-serif"; ctx.textAlign = "left"; ctx.textBaseline = "middle";
    let y = box[1] + 10;
    for (const [name, colour, dash] of entries) {
      const x = box[0] + box[2] - 150;
      ctx.strokeStyle = colour; ctx.lineWidth = 2; ctx.setLineDash(dash || []);
      ctx.beginPath(); ctx.moveTo(x, y); ctx.lineTo(x + 22, y); ctx.stroke();
      ctx.setLineDash([]); ctx.fillStyle = "#333"; ctx.fillText(name, x + 28, y);
      y += 15;
    }
  }

  function draw(canvas, d) {
    const ratio = window.devicePixelRatio || 1;
    const W = canvas.clientWidth || 1000, H = canvas.clientHeight || 420;
    canvas.width = W * ratio; canvas.height = H * ratio;
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    const x = unpack(d.x), y = unpack(d.y), fit = unpack(d.fit), base = unpack(d.base);
    const res = unpack(d.res);
    const xr = [x[0], x[x.length - 1]];
    const top = [70, 10, W - 90, (H - 60) * 0.72], bottom = [70, top[3] + 18, W - 90,
                                                             (H - 60) * 0.28];
    const upper = panel(ctx, top, xr, range([y, fit, base]), d.xlabel, d.ylabel, false);
    const noise = [-2 * d.noise, 2 * d.noise];
    const lower = panel(ctx, bottom, xr, range([res, noise]), d.xlabel, "residual", true);
    for (const [a, b] of d.flag) {
      for (const [map, box] of [[upper, top], [lower, bottom]]) {
        ctx.fillStyle = COLOURS.flag;
        const l = Math.max(map.px(a), box[0]), r = Math.min(map.px(b), box[0] + box[2]);
        ctx.fillRect(l, box[1], Math.max(r - l, 0), box[3]);
      }
    }
    ctx.fillStyle = COLOURS.noise;
    ctx.fillRect(bottom[0], lower.py(noise[1]), bottom[2], lower.py(noise[0]) - lower.py(noise[1]));
    line(ctx, upper, x, y, COLOURS.data, 0.8);
    line(ctx, upper, x, base, COLOURS.base, 1);
    for (const [lo, packed] of d.comp) {
      const c = unpack(packed).map((v, i) => v + base[lo + i]);
      line(ctx, upper, x, c, COLOURS.comp, 0.9, [4, 3], lo);
    }
    for (const [lo, packed] of d.bands) {
      const c = unpack(packed).map((v, i) => v + base[lo + i]);
      line(ctx, upper, x, c, COLOURS.band, 1.2, [], lo);
    }
    ctx.fillStyle = COLOURS.comp;
    for (const [c, h] of d.marks) {
      ctx.beginPath(); ctx.arc(upper.px(c), upper.py(h), 2.5, 0, 2 * Math.PI); ctx.fill();
    }
    line(ctx, upper, x, fit, COLOURS.fit, 1.3);
    line(ctx, lower, x, res, "#444", 0.7);
    const entries = [["data", COLOURS.data], ["baseline", COLOURS.base], ["fit", COLOURS.fit]];
    if (d.comp.length || d.marks.length) entries.push(["components", COLOURS.comp, [4, 3]]);
    if (d.bands.length) entries.push(["bands of several", COLOURS.band]);
    legend(ctx, top, entries);
  }

  function text(tag, cls, content) {
    const el = document.createElement(tag);
    if (cls) el.className = cls;
    el.textContent = content;
    return el;
  }

  function toggle(row) {
    const next = row.nextElementSibling;
    if (next && next.classList.contains("detail")) { next.remove(); return; }
    const detail = document.createElement("tr");
    detail.className = "detail";
    const cell = document.createElement("td");
    cell.colSpan = width;
    detail.appendChild(cell);
    row.after(detail);
    const source = document.getElementById("pf-" + row.dataset.i);
    if (!source) {  // a failed spectrum: its reason is in the row
      cell.appendChild(text("p", "pf-flags", row.cells[width - 1].textContent));
      return;
    }
    const d = JSON.parse(source.textContent);
    cell.appendChild(text("p", "", d.name + ": " + d.summary));
    for (const f of d.flags) cell.appendChild(text("p", "pf-flags", f));
    for (const n of d.notes) cell.appendChild(text("p", "pf-notes", n));
    const canvas = document.createElement("canvas");
    canvas.className = "pf-figure";
    cell.appendChild(canvas);
    draw(canvas, d);
    const tables = document.createElement("div");
    tables.innerHTML = d.tables;  // made by peakflow (fit_view.fit_tables), escaped there
    cell.appendChild(tables);
  }

  function sortBy(th) {
    const column = th.cellIndex;
    const dir = th.dataset.dir === "1" ? -1 : 1;
    for (const h of summary.tHead.rows[0].cells) delete h.dataset.dir;
    th.dataset.dir = String(dir);
    const groups = [];
    for (const row of Array.from(body.rows)) {
      if (row.classList.contains("detail")) groups[groups.length - 1].push(row);
      else groups.push([row]);
    }
    const key = (g) => g[0].cells[column].dataset.v;
    groups.sort((a, b) => {
      const u = key(a), v = key(b);
      const nu = u === "" ? NaN : Number(u), nv = v === "" ? NaN : Number(v);
      if (!isNaN(nu) && !isNaN(nv)) return dir * (nu - nv);
      if (isNaN(nu) !== isNaN(nv)) return isNaN(nu) ? 1 : -1;  // blanks last
      return dir * u.localeCompare(v, undefined, { numeric: true });
    });
    for (const g of groups) for (const row of g) body.appendChild(row);
  }

  summary.tHead.addEventListener("click", (e) => {
    const th = e.target.closest("th");
    if (th) sortBy(th);
  });
  body.addEventListener("click", (e) => {
    const row = e.target.closest("tr[data-i]");
    if (row) toggle(row);
  });
  const only = document.getElementById("pf-only-flagged");
  if (only) only.addEventListener("change", () => {
    document.body.classList.toggle("only-flagged", only.checked);
  });
  const open = new URLSearchParams(window.location.search).get("open");
  if (open !== null) {  // ?open=3 or ?open=all: rows opened on load (links, screenshots)
    for (const row of Array.from(body.rows)) {
      if (open === "all" || row.dataset.i === open) toggle(row);
    }
  }
  document.body.dataset.ready = String(Math.round(performance.now()));
})();
