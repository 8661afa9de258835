// Every session in a sortable table, refreshed every five seconds: the list, then per session
// its summary, the last 100 history records (last loss, sparkline) and its snapshots, at most
// six requests at a time.
import { api, setupToken, showStatus, el, num, bytes, count, age, stateDtypes, poll, healthBadge, APIError } from "/assets/api.js";
import { sparkline } from "/assets/charts.js";

const severity = { ok: 0, plateau: 1, grad_norm_spike: 2, loss_spike: 3, diverging: 4, nonfinite: 5 };
const rows = new Map(); // id -> { tr, data }
const selected = new Set();
let sort = { key: "id", dir: 1 };

async function limited(items, width, task) {
  const results = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      try {
        results[i] = await task(items[i]);
      } catch (e) {
        if (e instanceof APIError && e.status === 404) results[i] = null; // deleted meanwhile
        else throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return results;
}

async function load(item) {
  const base = "/v1/sessions/" + encodeURIComponent(item.id);
  const [summary, history, snapshots] = await Promise.all([
    api(base), api(base + "/history?last=100"), api(base + "/snapshots"),
  ]);
  const losses = history.records.filter((r) => !r.skipped && r.loss !== null).map((r) => r.loss);
  const newest = snapshots.snapshots[0];
  return {
    id: item.id,
    health: summary.health,
    step: summary.step,
    lr: summary.lr,
    loss: losses.length ? losses[losses.length - 1] : null,
    grad_norm: summary.last_grad_norm,
    optimizer: summary.config.optimizer.type,
    state_dtype: stateDtypes(summary.config),
    param_count: summary.param_count,
    bytes: summary.bytes,
    snapshot_age: newest && newest.unix_ms ? (Date.now() - Number(newest.unix_ms)) / 1000 : null,
    losses,
  };
}

function sortValue(d, key) {
  if (key === "health") return severity[d.health.status] ?? 9;
  return d[key];
}

function compareRows(a, b) {
  const x = sortValue(a.data, sort.key), y = sortValue(b.data, sort.key);
  // Missing values last whichever the direction.
  if (x === null || x === undefined) return (y === null || y === undefined) ? 0 : 1;
  if (y === null || y === undefined) return -1;
  const c = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
  return c * sort.dir || a.data.id.localeCompare(b.data.id);
}

function cells(d) {
  return [
    el("td", { class: "select" }, el("input", {
      type: "checkbox", "aria-label": "compare " + d.id, checked: selected.has(d.id),
      onchange: (e) => { if (e.target.checked) selected.add(d.id); else selected.delete(d.id); updateCompareButton(); },
    })),
    el("td", { class: "id" }, el("a", { href: "/sessions/" + encodeURIComponent(d.id), text: d.id })),
    el("td", { class: "health-cell" }, healthBadge(d.health), el("span", { class: "reason", text: d.health.reasons[0] || "" })),
    el("td", { class: "num", text: String(d.step) }),
    el("td", { class: "num", text: num(d.lr) }),
    el("td", { class: "num", text: num(d.loss) }),
    el("td", { class: "num", text: num(d.grad_norm) }),
    el("td", { text: d.optimizer }),
    el("td", { text: d.state_dtype }),
    el("td", { class: "num", text: count(d.param_count) }),
    el("td", { class: "num", text: bytes(d.bytes) }),
    el("td", { text: d.snapshot_age === null ? "—" : age(d.snapshot_age) }),
    el("td", { class: "spark" }, el("div", { class: "sparkline", "aria-label": "loss of the last " + d.losses.length + " steps" })),
  ];
}

function render(datas) {
  const seen = new Set();
  for (const d of datas) {
    if (!d) continue;
    seen.add(d.id);
    let row = rows.get(d.id);
    if (!row) {
      row = { tr: el("tr", { "data-id": d.id }) };
      rows.set(d.id, row);
    }
    row.data = d;
    row.tr.className = "health-row-" + d.health.status;
    row.tr.replaceChildren(...cells(d));
    row.tr.dataset.points = String(d.losses.length);
  }
  for (const id of [...rows.keys()]) {
    if (!seen.has(id)) { rows.delete(id); selected.delete(id); }
  }
  reorder();
  // Only once the rows are in the document: dygraphs measures its div.
  for (const row of rows.values()) sparkline(row.tr.querySelector(".sparkline"), row.data.losses);
  document.getElementById("empty").hidden = rows.size > 0;
  updateCompareButton();
}

function reorder() {
  document.querySelector("#sessions tbody").replaceChildren(...[...rows.values()].sort(compareRows).map((r) => r.tr));
  for (const th of document.querySelectorAll("#sessions th[data-key]")) {
    th.setAttribute("aria-sort", th.dataset.key === sort.key ? (sort.dir > 0 ? "ascending" : "descending") : "none");
  }
}

function updateCompareButton() {
  document.getElementById("compare-selected").disabled = selected.size < 2;
}

async function refresh() {
  const list = await api("/v1/sessions");
  render(await limited(list.sessions, 6, load));
  showStatus(null);
  document.body.dataset.loaded = "true";
}

for (const th of document.querySelectorAll("#sessions th[data-key]")) {
  th.querySelector("button").addEventListener("click", () => {
    const key = th.dataset.key;
    sort = { key, dir: sort.key === key ? -sort.dir : (th.dataset.type === "number" ? -1 : 1) };
    reorder();
  });
}
document.getElementById("compare-selected").addEventListener("click", () => {
  location.href = "/compare?ids=" + [...selected].map(encodeURIComponent).join(",");
});

const poller = poll(refresh, 5000);
setupToken(() => poller.now());
