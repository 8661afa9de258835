// Charts over dygraphs (vendor/dygraphs, loaded as a classic script before the modules, so
// `Dygraph` is a global). One `StepChart` per figure: it is created with the first data that
// arrives (dygraphs cannot draw an empty data set), then only given new rows.

import { num } from "/assets/api.js";

const Dygraph = window.Dygraph;

export const SKIPPED_COLOR = "#d62728";
export const MAIN_COLOR = "#1f77b4";
export const DASHED = Dygraph.DASHED_LINE;

/// The x of a history record: its step, or, for a skipped request (which keeps the step
/// number of the step before it), half a step after that step.
export function recordX(r) {
  return r.skipped ? r.step + 0.5 : r.step;
}

function escapeHTML(s) {
  return String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

/// Charts whose x ranges follow one another: zooming one (drag) zooms the others to the same
/// steps; a double-click resets them all.
export class ZoomGroup {
  constructor() {
    this.charts = [];
    this.syncing = false;
  }
  add(chart) {
    this.charts.push(chart);
  }
  zoomed(source, minX, maxX) {
    if (this.syncing) return;
    this.syncing = true;
    const window = source.graph.isZoomed("x") ? [minX, maxX] : null;
    for (const c of this.charts) {
      if (c !== source && c.graph) c.graph.updateOptions({ dateWindow: window });
    }
    this.syncing = false;
  }
}

/// One figure: `<figure class="chart"><figcaption>…<span class="count"></span></figcaption>
/// <div class="plot"></div></figure>`. `labels` names x and every series; `main` is the series
/// whose points `data-points` counts; a series named "skipped" is drawn as red dots with a
/// flag and a red line across the chart.
export class StepChart {
  constructor(figure, { labels, main, series = {}, logscale = false, describe, zoom, legend = "follow", colors = [MAIN_COLOR] }) {
    this.figure = figure;
    this.plot = figure.querySelector(".plot");
    this.labels = labels;
    this.main = main;
    this.series = series;
    this.logscale = logscale;
    this.describe = describe;
    this.zoom = zoom;
    this.legend = legend;
    this.colors = colors;
    this.graph = null;
    this.skippedX = [];
    if (zoom) zoom.add(this);
    const toggle = figure.querySelector("input.log");
    if (toggle) {
      toggle.checked = logscale;
      toggle.addEventListener("change", () => {
        this.logscale = toggle.checked;
        if (this.graph) this.graph.updateOptions({ logscale: this.logscale });
      });
    }
  }

  options(rows) {
    const chart = this;
    const series = Object.assign({}, this.series);
    if (this.labels.includes("skipped")) {
      series.skipped = { strokeWidth: 0, drawPoints: true, pointSize: 4, highlightCircleSize: 6, color: SKIPPED_COLOR };
    }
    const o = {
      labels: this.labels,
      series,
      logscale: this.logscale,
      connectSeparatedPoints: true,
      legend: this.legend,
      labelsSeparateLines: true,
      xlabel: "step",
      axes: {
        x: { valueFormatter: (x) => "step " + x },
        y: { axisLabelWidth: 58, axisLabelFormatter: (y) => num(y) },
      },
      underlayCallback: (ctx, area, g) => {
        ctx.save();
        ctx.strokeStyle = SKIPPED_COLOR;
        ctx.globalAlpha = 0.45;
        ctx.lineWidth = 2;
        for (const x of chart.skippedX) {
          const px = g.toDomXCoord(x);
          if (px < area.x || px > area.x + area.w) continue;
          ctx.beginPath();
          ctx.moveTo(px, area.y);
          ctx.lineTo(px, area.y + area.h);
          ctx.stroke();
        }
        ctx.restore();
      },
      zoomCallback: (minX, maxX) => { if (chart.zoom) chart.zoom.zoomed(chart, minX, maxX); },
    };
    // dygraphs wants a colour per series; those not given here are set in `series`.
    o.colors = this.labels.slice(1).map((_, i) => this.colors[i % this.colors.length]);
    if (this.describe) {
      o.legendFormatter = (data) => (data.x === undefined || data.x === null ? "" : this.describe(data.x, escapeHTML) || "");
    }
    return o;
  }

  /// Replaces the data. `skipped`: [{x, text}] for the markers' flags.
  set(rows, skipped = []) {
    this.skippedX = skipped.map((s) => s.x);
    const mainIndex = this.labels.indexOf(this.main);
    const points = rows.filter((r) => r[mainIndex] !== null && r[mainIndex] !== undefined).length;
    this.figure.dataset.points = String(points);
    this.figure.dataset.skipped = String(skipped.length);
    const countLabel = this.figure.querySelector(".count");
    if (countLabel) {
      countLabel.textContent = points + " points" + (skipped.length ? ", " + skipped.length + " skipped" : "");
    }
    if (rows.length === 0) {
      this.plot.textContent = "no steps yet";
      this.plot.classList.add("empty");
      return;
    }
    if (!this.graph) {
      this.plot.textContent = "";
      this.plot.classList.remove("empty");
      this.graph = new Dygraph(this.plot, rows, this.options(rows));
    } else {
      this.graph.updateOptions({ file: rows });
    }
    const annotations = skipped.map((s) => ({
      series: "skipped", x: s.x, shortText: "NaN", text: s.text, cssClass: "skipped", width: 30, height: 14,
    }));
    this.graph.ready(() => this.graph.setAnnotations(annotations));
    this.figure.dataset.drawn = "true";
  }

  /// A log axis cannot show zero or negative values: the toggle is switched off and disabled
  /// while the data has any.
  allowLog(allowed) {
    const toggle = this.figure.querySelector("input.log");
    if (!toggle || toggle.disabled === !allowed) return;
    toggle.disabled = !allowed;
    toggle.title = allowed ? "" : "the data has values ≤ 0";
    if (!allowed && this.logscale) {
      toggle.checked = false;
      this.logscale = false;
      if (this.graph) this.graph.updateOptions({ logscale: false });
    }
  }
}

/// A loss sparkline for the sessions table: no axes, no interaction.
export function sparkline(container, losses) {
  const rows = losses.map((y, i) => [i, y]);
  if (rows.length < 2) {
    container.textContent = "";
    return null;
  }
  return new Dygraph(container, rows, {
    labels: ["i", "loss"],
    width: 120,
    height: 28,
    legend: "never",
    axes: { x: { drawAxis: false, drawGrid: false }, y: { drawAxis: false, drawGrid: false } },
    strokeWidth: 1.2,
    colors: ["#1f77b4"],
    interactionModel: {},
    showLabelsOnHighlight: false,
  });
}
