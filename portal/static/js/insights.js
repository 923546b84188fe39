// Charts on /insights: each <canvas data-chart="ID"> draws the JSON in <script id="ID">.
// The numbers are also in the table beside each chart; the page works without this file.
(function () {
  "use strict";

  var PALETTE = ["#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#64748b", "#0891b2"];

  function isoDay(ms) {
    return new Date(ms).toISOString().slice(0, 10);
  }

  function config(spec) {
    var datasets = spec.datasets.map(function (dataset, index) {
      var colour = PALETTE[index % PALETTE.length];
      return Object.assign({
        backgroundColor: colour + (dataset.fill ? "55" : "cc"),
        borderColor: colour,
        borderWidth: spec.type === "bar" ? 0 : 2,
        pointRadius: spec.type === "line" ? 0 : 3
      }, dataset);
    });
    var x = { stacked: !!spec.stacked };
    var y = { stacked: !!spec.stacked, beginAtZero: true };
    if (spec.xTime) {
      x = { type: "linear", ticks: { callback: function (value) { return isoDay(value); } } };
    }
    if (spec.xCategories) {
      x = { type: "category", labels: spec.xCategories };
    }
    return {
      type: spec.type,
      data: { labels: spec.labels, datasets: datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        indexAxis: spec.horizontal ? "y" : "x",
        scales: spec.horizontal ? { x: y, y: x } : { x: x, y: y },
        plugins: { legend: { position: "bottom" } }
      }
    };
  }

  function draw(root) {
    if (typeof window.Chart === "undefined") { return; }
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (canvas.dataset.drawn) { return; }
      var source = document.getElementById(canvas.getAttribute("data-chart"));
      if (!source) { return; }
      canvas.dataset.drawn = "1";
      new window.Chart(canvas, config(JSON.parse(source.textContent)));
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function () { draw(document); });
})();
