// One session, following the run: polls `/history?after=<total>` every second for the records
// it has not seen (a skipped request keeps its step number, so the record count, not the step,
// is the cursor), the summary and the schedule's preview when the step moves, the snapshot
// list every ten seconds.
import { api, setupToken, showStatus, el, num, bytes, count, age, stateDtypes, poll, healthBadge } from "/assets/api.js";
import { StepChart, ZoomGroup, recordX, DASHED } from "/assets/charts.js";

const id = decodeURIComponent(location.pathname.split("/").filter(Boolean)[1] || "");
const base = "/v1/sessions/" + encodeURIComponent(id);
document.title = "stepd · " + id;
document.getElementById("session-id").textContent = id;

const state = {
  records: [],
  total: 0,
  summary: null,
  preview: [],
  previewStep: -1,
  summaryAt: 0,
  snapshotsAt: 0,
};
/// Records by chart x, for the tooltip; preview rows by step.
let byX = new Map();
let previewByX = new Map();

function describe(x, esc) {
  const r = byX.get(x);
  if (!r) {
    const p = previewByX.get(x);
    return p ? `<div class="tip"><b>step ${p.step}</b> (scheduled)<br>lr ${esc(num(p.lr))}</div>` : "";
  }
  const lines = [`<b>step ${r.step}</b>` + (r.skipped ? ` <span class="tip-skipped">request after step ${r.step} skipped: non-finite gradients</span>` : "")];
  lines.push("loss " + esc(num(r.loss)));
  lines.push("grad norm " + esc(num(r.grad_norm)) + (r.clipped ? ` <span class="tip-clipped">clipped ×${esc(num(r.clip_coef))}</span>` : ""));
  lines.push("lr " + esc(num(r.lr)));
  lines.push("update / param " + esc(num(r.update_ratio)) + " (update " + esc(num(r.update_norm)) + ", params " + esc(num(r.param_norm)) + ")");
  lines.push(esc(new Date(r.time * 1000).toLocaleTimeString()));
  return `<div class="tip">${lines.join("<br>")}</div>`;
}

const zoom = new ZoomGroup();
const fig = (name) => document.getElementById("chart-" + name);
const charts = {
  loss: new StepChart(fig("loss"), { labels: ["step", "loss", "skipped"], main: "loss", describe, zoom, logscale: true }),
  gradNorm: new StepChart(fig("grad-norm"), {
    labels: ["step", "grad norm", "clipped", "max_norm", "skipped"], main: "grad norm", describe, zoom,
    series: {
      clipped: { strokeWidth: 0, drawPoints: true, pointSize: 3, color: "#ff7f0e" },
      max_norm: { strokePattern: DASHED, color: "#7f7f7f", strokeWidth: 1 },
    },
  }),
  lr: new StepChart(fig("lr"), {
    labels: ["step", "lr", "scheduled", "skipped"], main: "lr", describe, zoom,
    series: { scheduled: { strokePattern: DASHED, color: "#2ca02c" } },
  }),
  updateRatio: new StepChart(fig("update-ratio"), {
    labels: ["step", "update/param", "skipped"], main: "update/param", describe, zoom, logscale: true,
  }),
};

/// Rows for every chart from the records (and the preview for lr). A skipped request's marker
/// sits on the line: at the value of the nearest applied point.
function redraw() {
  const summary = state.summary;
  const maxNorm = summary && summary.config.clip ? summary.config.clip.max_norm : null;
  byX = new Map();
  previewByX = new Map();
  const rows = { loss: [], gradNorm: [], lr: [], updateRatio: [] };
  const skipped = [];
  for (const r of state.records) {
    const x = recordX(r);
    byX.set(x, r);
    if (r.skipped) {
      skipped.push({ x, text: `step request after step ${r.step}: non-finite gradients, skipped` });
      rows.loss.push([x, null, NaN]);
      rows.gradNorm.push([x, null, null, maxNorm, NaN]);
      rows.lr.push([x, null, null, NaN]);
      rows.updateRatio.push([x, null, NaN]);
      continue;
    }
    rows.loss.push([x, r.loss, null]);
    rows.gradNorm.push([x, r.grad_norm, r.clipped ? r.grad_norm : null, maxNorm, null]);
    rows.lr.push([x, r.lr, null, null]);
    rows.updateRatio.push([x, r.update_ratio > 0 ? r.update_ratio : null, null]);
  }
  for (const list of Object.values(rows)) placeMarkers(list);
  const lastApplied = state.records.filter((r) => !r.skipped).pop();
  const future = state.preview.filter((p) => !lastApplied || p.step > lastApplied.step);
  if (future.length && rows.lr.length) {
    // The dashed line starts at the last applied step so that it continues the solid one.
    for (let i = rows.lr.length - 1; i >= 0; i--) if (rows.lr[i][1] !== null) { rows.lr[i][2] = rows.lr[i][1]; break; }
  }
  for (const p of future) {
    previewByX.set(p.step, p);
    rows.lr.push([p.step, null, p.lr, null]);
  }
  fig("lr").dataset.preview = String(future.length);
  fig("grad-norm").dataset.clipped = String(state.records.filter((r) => r.clipped && !r.skipped).length);
  charts.loss.allowLog(!rows.loss.some((r) => r[1] !== null && r[1] <= 0));
  charts.gradNorm.allowLog(!rows.gradNorm.some((r) => r[1] !== null && r[1] <= 0));
  charts.loss.set(rows.loss, skipped);
  charts.gradNorm.set(rows.gradNorm, skipped);
  charts.lr.set(rows.lr, skipped);
  charts.updateRatio.set(rows.updateRatio, skipped);
}

/// The last column of a row is the "skipped" marker, NaN until placed here.
function placeMarkers(list) {
  const last = (row) => row.length - 1;
  for (let i = 0; i < list.length; i++) {
    if (!Number.isNaN(list[i][last(list[i])])) continue;
    let y = null;
    for (let j = i - 1; j >= 0 && y === null; j--) if (list[j][1] !== null) y = list[j][1];
    for (let j = i + 1; j < list.length && y === null; j++) if (list[j][1] !== null) y = list[j][1];
    list[i][last(list[i])] = y === null ? 1 : y;
  }
}

function kvRows(table, pairs) {
  table.replaceChildren(...pairs.filter(([, v]) => v !== undefined).map(([k, v]) => el("tr", {}, el("th", { text: k }), el("td", {}, v))));
}

function fields(obj, skip = []) {
  return Object.entries(obj || {}).filter(([k]) => !skip.includes(k))
    .map(([k, v]) => k + "=" + (typeof v === "object" ? JSON.stringify(v) : typeof v === "number" ? num(v) : v)).join(", ");
}

function renderSummary() {
  const s = state.summary;
  const c = s.config;
  const lastLoss = [...state.records].reverse().find((r) => r.loss !== null);
  kvRows(document.getElementById("now"), [
    ["step", String(s.step)],
    ["lr (next step)", num(s.lr)],
    ["last loss", lastLoss ? num(lastLoss.loss) : "—"],
    ["last grad norm", num(s.last_grad_norm)],
    ["parameters", count(s.param_count) + " (" + bytes(s.bytes) + " with state)"],
    ["state dtype", stateDtypes(c)],
    ["accumulation", s.needed ? `${s.accumulated} of ${s.needed} contributions in for the next step` : "none"],
    ["tenant", s.tenant],
  ]);
  const groups = [{ name: "default" }, ...(c.groups || [])];
  document.querySelector("#groups tbody").replaceChildren(...groups.map((g) =>
    el("tr", {}, el("td", { text: g.name }), el("td", { text: num(s.lrs[g.name]) }), el("td", { text: g.name === "default" ? "the optimizer's" : fields(g, ["name"]) }))));
  kvRows(document.getElementById("config"), [
    ["optimizer", c.optimizer.type],
    ["hyperparameters", fields(c.optimizer, ["type"])],
    ["schedule", c.schedule ? c.schedule.type + (fields(c.schedule, ["type"]) ? " (" + fields(c.schedule, ["type"]) + ")" : "") : "constant"],
    ["clip max_norm", c.clip ? num(c.clip.max_norm) : "none"],
    ["accumulation", s.needed ? `${c.accumulation.micro_batches} micro-batches × ${c.accumulation.workers} workers` : "none"],
    ["non-finite gradients", c.nonfinite],
    ["snapshots", fields(c.snapshot) || "server defaults"],
    ["history kept", c.history ? String(c.history.capacity) + " records" : undefined],
    ["tensors", (c.params || []).map((p) => p.name + " [" + p.shape.join("×") + "]" + (p.group ? " (" + p.group + ")" : "")).join(", ")],
  ]);
}

function renderVerdict(health) {
  const box = document.getElementById("verdict");
  box.className = "verdict verdict-" + health.status;
  box.dataset.status = health.status;
  document.getElementById("verdict-status").replaceChildren(healthBadge(health));
  document.getElementById("verdict-reasons").replaceChildren(
    ...(health.reasons.length ? health.reasons : ["no warning signs in the recent history"]).map((r) => el("li", { text: r })));
}

function renderSnapshots(list) {
  const now = Date.now();
  document.querySelector("#snapshots tbody").replaceChildren(...list.map((s) =>
    el("tr", {}, el("td", { text: s.step }), el("td", { text: s.unix_ms ? age((now - Number(s.unix_ms)) / 1000) : "—" }), el("td", { class: "file", text: s.file }))));
  document.getElementById("snapshots-none").hidden = list.length > 0;
}

/// How far ahead to show the schedule: to `total_steps` when the schedule has one (at most
/// 2000 steps), else a quarter of the steps so far (at least 50).
function previewLength(summary) {
  const sch = summary.config.schedule || {};
  const ahead = sch.total_steps ? sch.total_steps - summary.step : Math.max(50, Math.round(summary.step / 4));
  return Math.max(0, Math.min(2000, ahead));
}

async function tick() {
  if (document.hidden && state.summary) return;
  const h = await api(`${base}/history?after=${state.total}`);
  let changed = false;
  if (h.total < state.total) {
    // The server restarted and restored the session from a snapshot: start over.
    const all = await api(`${base}/history`);
    state.records = all.records;
    state.total = all.total;
    changed = true;
  } else if (h.records.length) {
    state.records.push(...h.records);
    state.total = h.total;
    changed = true;
  }
  renderVerdict(h.health);
  const now = Date.now();
  const stepMoved = !state.summary || state.summary.step !== h.step;
  if (stepMoved || now - state.summaryAt > 5000) {
    state.summary = await api(base);
    state.summaryAt = now;
    const capacity = state.summary.config.history ? state.summary.config.history.capacity : Infinity;
    if (state.records.length > capacity) state.records.splice(0, state.records.length - capacity);
    renderSummary();
    changed = true;
  }
  if (state.previewStep !== state.summary.step) {
    const n = previewLength(state.summary);
    const sch = n > 0 ? await api(`${base}/schedule?preview=${n}`) : { preview: [] };
    state.preview = sch.preview || [];
    state.previewStep = state.summary.step;
    changed = true;
  }
  if (now - state.snapshotsAt > 10000) {
    renderSnapshots((await api(`${base}/snapshots`)).snapshots);
    state.snapshotsAt = now;
  }
  if (changed) redraw();
  showStatus(null);
  document.body.dataset.total = String(state.total);
}

const poller = poll(tick, 1000);
setupToken(() => {
  state.summaryAt = 0;
  state.snapshotsAt = 0;
  poller.now();
});
