#!/usr/bin/env node
// Linear regression on synthetic data, trained through stepd from Node 20 with the built-in
// fetch and no packages. The gradients are computed here; stepd runs Adam with a warmup-linear
// schedule. Steps go up as raw little-endian float32 (application/octet-stream, tensors in
// declared order); parameters come back the same way. Exits non-zero unless it converged.
//
//   STEPD_URL=http://127.0.0.1:8080 node examples/node_linear.mjs

import { randomUUID } from "node:crypto";

const BASE = (process.env.STEPD_URL || "http://127.0.0.1:8080").replace(/\/+$/, "");
const TOKEN = process.env.STEPD_TOKEN;
const D = 8, N = 512, STEPS = 300, NOISE = 0.05;

// A small seeded generator (mulberry32) and Box-Muller normals, so every run is the same.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const uniform = rng(42);
const normal = () => Math.sqrt(-2 * Math.log(Math.max(uniform(), 1e-300))) * Math.cos(2 * Math.PI * uniform());

const trueW = Array.from({ length: D }, (_, i) => (i % 2 ? -1 : 1) * (0.5 + i / D));
const trueB = 0.75;
const X = Array.from({ length: N }, () => Array.from({ length: D }, normal));
const Y = X.map((row) => row.reduce((s, x, j) => s + x * trueW[j], trueB) + NOISE * normal());

async function api(method, path, { json, body, headers = {}, expect = [200] } = {}) {
  const h = { ...headers };
  if (TOKEN) h.Authorization = `Bearer ${TOKEN}`;
  if (json !== undefined) {
    h["Content-Type"] = "application/json";
    body = JSON.stringify(json);
  }
  const res = await fetch(BASE + path, { method, headers: h, body });
  if (!expect.includes(res.status)) {
    const text = await res.text();
    throw new Error(`${method} ${path}: HTTP ${res.status} ${res.headers.get("content-type")}: ${text}`);
  }
  return res;
}

function lossAndGrads(w, b) {
  const gw = new Float64Array(D);
  let gb = 0, loss = 0;
  for (let i = 0; i < N; i++) {
    let pred = b;
    for (let j = 0; j < D; j++) pred += w[j] * X[i][j];
    const err = pred - Y[i];
    loss += err * err;
    for (let j = 0; j < D; j++) gw[j] += (2 * err * X[i][j]) / N;
    gb += (2 * err) / N;
  }
  return { loss: loss / N, gw, gb };
}

async function main() {
  const created = await (await api("POST", "/v1/sessions", {
    expect: [201],
    json: {
      optimizer: { type: "adam", lr: 0.1, betas: [0.9, 0.99] },
      schedule: { type: "warmup_linear", warmup_steps: 10, total_steps: STEPS, min_lr_ratio: 0.01 },
      params: [{ name: "w", shape: [D], init: "zeros" }, { name: "b", shape: [1], init: "zeros" }],
    },
  })).json();
  const id = created.id;
  console.log(`session ${id} on ${BASE}: ${created.param_count} parameters, ${N} samples, ${STEPS} steps`);

  try {
    let w = new Float32Array(D), b = 0, last;
    for (let t = 1; t <= STEPS; t++) {
      const { loss, gw, gb } = lossAndGrads(w, b);
      // Declared order: w (8 values), then b (1 value), little-endian float32.
      const grads = new Float32Array(D + 1);
      grads.set(gw);
      grads[D] = gb;
      const res = await api("POST", `/v1/sessions/${id}/steps?loss=${loss}`, {
        body: Buffer.from(grads.buffer),
        headers: { "Content-Type": "application/octet-stream", "Idempotency-Key": randomUUID(), "If-Match": `"${t - 1}"` },
      });
      last = await res.json();
      if (last.step !== t || !last.applied) throw new Error(`step ${t}: unexpected answer ${JSON.stringify(last)}`);
      const params = await api("GET", `/v1/sessions/${id}/params`, { headers: { Accept: "application/octet-stream" } });
      if (params.headers.get("etag") !== `"${t}"`) throw new Error(`params ETag ${params.headers.get("etag")} after step ${t}`);
      const values = new Float32Array(await params.arrayBuffer());
      w = values.subarray(0, D);
      b = values[D];
      if (t === 1 || t % 50 === 0) {
        console.log(`step ${String(t).padStart(3)}  loss=${loss.toFixed(5)}  lr=${last.lr.toFixed(4)}  grad_norm=${last.grad_norm.toFixed(4)}`);
      }
    }
    const final = lossAndGrads(w, b).loss;
    const wErr = Math.max(...Array.from(w, (x, j) => Math.abs(x - trueW[j])));
    const bErr = Math.abs(b - trueB);
    const history = await (await api("GET", `/v1/sessions/${id}/history?last=1`)).json();
    console.log(`final mse=${final.toFixed(5)} (noise variance ${(NOISE * NOISE).toFixed(5)})  max|w-w*|=${wErr.toFixed(4)}  |b-b*|=${bErr.toFixed(4)}  health=${history.health.status}`);
    if (!(final < 2 * NOISE * NOISE && wErr < 0.02 && bErr < 0.02)) {
      console.error("did not converge");
      process.exitCode = 1;
    } else {
      console.log("converged: ok");
    }
  } finally {
    await api("DELETE", `/v1/sessions/${id}`, { expect: [200, 204] });
  }
}

main().catch((err) => {
  console.error(err.stack || String(err));
  process.exit(1);
});
