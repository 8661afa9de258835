// Loss curves of several sessions on one chart, one colour each: `/compare?ids=a,b,c`. The
// picker on the side changes the selection (and the URL); each session's history is followed
// with its own `after` cursor, every two seconds.
import { api, setupToken, showStatus, el, num, poll } from "/assets/api.js";
import { StepChart } from "/assets/charts.js";

const palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const params = new URLSearchParams(location.search);
let ids = (params.get("ids") || "").split(",").map((s) => s.trim()).filter(Boolean);
let followed = new Map(); // id -> { total, losses: Map(step -> loss) }
let chart = null;
let listedAt = 0;

function describe(x, esc) {
  const lines = [`<b>step ${x}</b>`];
  ids.forEach((id, i) => {
    const f = followed.get(id);
    const loss = f && f.losses.get(x);
    lines.push(`<span style="color:${palette[i % palette.length]}">■</span> ${esc(id)}: ${esc(num(loss === undefined ? null : loss))}`);
  });
  return `<div class="tip">${lines.join("<br>")}</div>`;
}

function rebuild() {
  const figure = document.getElementById("chart-compare");
  if (chart && chart.graph) chart.graph.destroy();
  figure.querySelector(".plot").replaceChildren();
  figure.dataset.series = ids.join(",");
  chart = ids.length ? new StepChart(figure, {
    labels: ["step", ...ids], main: ids[0], describe, colors: ids.map((_, i) => palette[i % palette.length]),
  }) : null;
  followed = new Map(ids.map((id) => [id, { total: 0, losses: new Map() }]));
  const u = new URL(location.href);
  if (ids.length) u.searchParams.set("ids", ids.join(",")); else u.searchParams.delete("ids");
  history.replaceState(null, "", u);
  document.title = "stepd · compare " + ids.join(", ");
}

function redraw() {
  const steps = new Set();
  for (const f of followed.values()) for (const s of f.losses.keys()) steps.add(s);
  const rows = [...steps].sort((a, b) => a - b).map((s) => [s, ...ids.map((id) => {
    const v = followed.get(id).losses.get(s);
    return v === undefined ? null : v;
  })]);
  if (chart) chart.set(rows);
  document.getElementById("compare-legend").replaceChildren(el("ul", {}, ...ids.map((id, i) => {
    const swatch = el("span", { class: "swatch" });
    swatch.style.background = palette[i % palette.length];
    const n = followed.get(id).losses.size;
    return el("li", { "data-id": id, "data-points": String(n) }, swatch,
      el("a", { href: "/sessions/" + encodeURIComponent(id), text: id }), el("span", { class: "note", text: " " + n + " points" }));
  })));
}

async function renderPicker() {
  const list = (await api("/v1/sessions")).sessions;
  const known = new Set(list.map((s) => s.id));
  const all = [...list.map((s) => s.id), ...ids.filter((id) => !known.has(id))];
  document.getElementById("picker").replaceChildren(...all.map((id) => el("li", {},
    el("label", {}, el("input", {
      type: "checkbox", value: id, checked: ids.includes(id),
      onchange: (e) => {
        ids = e.target.checked ? [...ids, id] : ids.filter((x) => x !== id);
        rebuild();
        poller.now();
      },
    }), " " + id, known.has(id) ? "" : el("span", { class: "note", text: " (not found)" })))));
}

async function tick() {
  const now = Date.now();
  if (now - listedAt > 10000) {
    await renderPicker();
    listedAt = now;
  }
  if (document.hidden) return;
  let changed = false;
  await Promise.all(ids.map(async (id) => {
    const f = followed.get(id);
    const h = await api(`/v1/sessions/${encodeURIComponent(id)}/history?after=${f.total}`);
    if (h.total < f.total) {
      // Restored from a snapshot after a restart: read it all again on the next tick.
      f.losses.clear();
      f.total = 0;
      changed = true;
      return;
    }
    for (const r of h.records) if (!r.skipped && r.loss !== null) f.losses.set(r.step, r.loss);
    if (h.records.length || h.total !== f.total) changed = true;
    f.total = h.total;
  }));
  if (changed || !chart || !chart.graph) redraw();
  showStatus(null);
}

rebuild();
const poller = poll(tick, 2000);
setupToken(() => { listedAt = 0; poller.now(); });
