// Console charts: reads the data the page embeds with json_script and draws it with uPlot
// (static/vendor/uplot). Each <div data-chart="name"> names one chart below.
(function () {
  "use strict";
  const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

  function size(el) {
    return { width: Math.max(280, el.clientWidth || 600), height: 240 };
  }

  // The y axis is as wide as its longest label (uPlot's fixed 50 px clipped "1200 ms" to "00 ms").
  function axisWidth(u, values) {
    const longest = (values || []).reduce((n, v) => Math.max(n, String(v).length), 2);
    return 14 + longest * 7;
  }

  // From 0 to a little above the largest value; a fraction axis never goes past 100%.
  function yRange(ceiling) {
    return (u, min, max) => [0, ceiling ? Math.min(ceiling, max * 1.1 || ceiling) : max * 1.1];
  }

  function lineChart(el, title, x, series, format, ceiling) {
    if (!x.length) return;
    const peak = Math.max(0, ...series.flatMap((s) => s.values.filter((v) => v != null)));
    if (!series.length || peak === 0) {
      // Nothing to plot: say so instead of drawing a $0-to-$100 axis.
      el.textContent = "";
      const note = document.createElement("p");
      note.className = "muted chart-empty";
      note.textContent = title + ": nothing in this range yet.";
      el.appendChild(note);
      return;
    }
    const opts = {
      title: title,
      ...size(el),
      scales: { x: { time: true }, y: { range: yRange(ceiling) } },
      axes: [{}, { values: (u, ticks) => ticks.map(format), size: axisWidth }],
      series: [{}].concat(series.map((s, i) => ({
        label: s.label,
        stroke: PALETTE[i % PALETTE.length],
        fill: s.fill ? PALETTE[i % PALETTE.length] + "22" : undefined,
        width: 2,
        spanGaps: false,
        value: (u, v) => (v == null ? "–" : format(v)),
      }))),
    };
    const data = [x].concat(series.map((s) => s.values));
    el.textContent = "";
    const plot = new uPlot(opts, data, el);
    new ResizeObserver(() => plot.setSize(size(el))).observe(el);
  }

  // Stacked series: each value drawn on top of those before it (uPlot draws lines, so sum them).
  function stacked(series) {
    const sums = [];
    return series.map((s) => {
      const values = s.values.map((v, i) => (sums[i] = (sums[i] || 0) + (v || 0)));
      return { label: s.label, values: values.slice(), fill: true };
    }).reverse();
  }

  const money = (v) => "$" + (v === 0 ? "0" : v >= 1 ? v.toFixed(2) : Number(v.toPrecision(2)).toString());
  const count = (v) => (v >= 1e6 ? (v / 1e6).toFixed(1) + "M" : v >= 1e3 ? (v / 1e3).toFixed(1) + "k" : String(v));
  const ms = (v) => Math.round(v) + " ms";
  const percent = (v) => (v * 100).toFixed(1) + "%";

  function draw() {
    const source = document.getElementById("console-charts");
    if (!source || typeof uPlot === "undefined") return;
    const data = JSON.parse(source.textContent);
    const u = data.usage, r = data.rates;
    const charts = {
      "spend": (el) => lineChart(el, "Spend (stacked)", u.x, stacked(u.spend), money),
      "tokens": (el) => lineChart(el, "Tokens (stacked)", u.x, stacked(u.tokens), count),
      "latency": (el) => lineChart(el, "Latency", r.x, [
        { label: "p50", values: r.p50 }, { label: "p95", values: r.p95 },
        { label: "TTFT p50", values: r.ttft_p50 }, { label: "TTFT p95", values: r.ttft_p95 },
      ], ms),
      "rates": (el) => lineChart(el, "Error, fallback and cache hit rates", r.x, [
        { label: "errors", values: r.error_rate }, { label: "fallbacks", values: r.fallback_rate },
        { label: "cache hits", values: r.cache_hit_rate },
      ], percent, 1),
    };
    document.querySelectorAll("[data-chart]").forEach((el) => {
      const make = charts[el.dataset.chart];
      if (make) make(el);
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
})();
