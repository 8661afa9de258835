// What every page shares: requests to the JSON API with the bearer token, the token field,
// number formatting, a DOM builder (text only, never HTML from data) and polling.

const TOKEN_KEY = "stepd.token";

export class APIError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

/// GET of a JSON API path, with `Authorization: Bearer` when a token was entered. A refusal
/// becomes an APIError carrying the problem document's detail.
export async function api(path) {
  const headers = { Accept: "application/json" };
  const t = token();
  if (t) headers.Authorization = "Bearer " + t;
  const r = await fetch(path, { headers, cache: "no-store" });
  if (!r.ok) {
    let detail = r.status + " " + r.statusText;
    try {
      const problem = await r.json();
      detail = problem.detail || problem.title || detail;
    } catch (_) { /* not a problem document */ }
    throw new APIError(r.status, detail);
  }
  return r.json();
}

/// Wires the header's token form: the token lives in this tab's session storage (gone when
/// the tab closes) and `onChange` reloads the page's data with it.
export function setupToken(onChange) {
  const form = document.getElementById("token-form");
  const input = document.getElementById("token");
  const clear = document.getElementById("token-clear");
  input.value = token();
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    onChange();
  });
  clear.addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    input.value = "";
    onChange();
  });
}

/// Shows what went wrong in the page's status line (empty when all is well).
export function showStatus(error) {
  const status = document.getElementById("status");
  if (!error) {
    status.textContent = "";
    status.className = "";
    return;
  }
  status.className = "error";
  if (error.status === 401) {
    status.textContent = "This server needs a token: enter it above. (" + error.message + ")";
  } else if (error instanceof APIError) {
    status.textContent = error.message;
  } else {
    status.textContent = "stepd is not answering (" + error.message + "); retrying.";
  }
}

export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

/// A number in at most four significant digits; exponent form when very small or large.
export function num(x) {
  if (x === null || x === undefined) return "—";
  if (typeof x !== "number") return String(x);
  if (!isFinite(x)) return String(x);
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a < 1e-3 || a >= 1e6) return x.toExponential(3).replace(/\.?0+e/, "e");
  return String(Number(x.toPrecision(4)));
}

export function bytes(n) {
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}

export function count(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + "B";
  if (n >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (n >= 1e3) return (n / 1e3).toFixed(1) + "k";
  return String(n);
}

export function age(seconds) {
  if (seconds < 0) seconds = 0;
  if (seconds < 90) return Math.round(seconds) + " s ago";
  if (seconds < 5400) return Math.round(seconds / 60) + " min ago";
  if (seconds < 129600) return (seconds / 3600).toFixed(1) + " h ago";
  return (seconds / 86400).toFixed(1) + " d ago";
}

/// Distinct state dtypes of a session's config (the optimizer's, then any group's own).
export function stateDtypes(config) {
  const found = [];
  const add = (d) => { if (d && !found.includes(d)) found.push(d); };
  add((config.optimizer && config.optimizer.state_dtype) || "f32");
  for (const g of config.groups || []) add(g.state_dtype || (g.optimizer && g.optimizer.state_dtype));
  return found.join(", ");
}

/// Runs `task` now and then `ms` after each run ends (never two at once); a failed run shows
/// its error and polling goes on.
export function poll(task, ms) {
  let timer = null;
  const run = async () => {
    clearTimeout(timer);
    try {
      await task();
    } catch (e) {
      showStatus(e);
    }
    timer = setTimeout(run, ms);
  };
  run();
  return { now: run };
}

export const healthLabels = {
  ok: "ok",
  nonfinite: "non-finite",
  diverging: "diverging",
  loss_spike: "loss spike",
  grad_norm_spike: "grad-norm spike",
  plateau: "plateau",
};

/// A coloured badge for a health verdict, its reasons as the tooltip.
export function healthBadge(health) {
  const reasons = (health.reasons || []).join("\n");
  return el("span", { class: "health health-" + health.status, title: reasons || "no warning" },
    healthLabels[health.status] || health.status);
}
