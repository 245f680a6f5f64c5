// The usage chart over time, drawn by Chart.js (vendored, pinned in package.json) from the figures
// the page's table shows; without JavaScript the table is the chart.
(function () {
  "use strict";
  var source = document.getElementById("usage-data");
  var canvas = document.getElementById("usage-chart");
  if (!source || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var colours = ["#0b5394", "#b35c00", "#0f5d2a", "#6a3d9a"];
  new Chart(canvas, {
    type: "line",
    data: {labels: data.labels, datasets: data.series.map(function (s, i) {
      return {label: s.label, data: s.data, borderColor: colours[i], backgroundColor: colours[i], pointRadius: data.labels.length > 48 ? 0 : 2, tension: 0};
    })},
    options: {locale: data.locale, responsive: true, animation: false, interaction: {mode: "index", intersect: false},
              plugins: {legend: {rtl: data.rtl, position: "bottom"}, tooltip: {rtl: data.rtl}},
              scales: {x: {reverse: data.rtl, ticks: {autoSkip: true, maxRotation: 0}},
                       y: {beginAtZero: true, position: data.rtl ? "right" : "left", title: {display: true, text: data.axis}}}}
  });
  canvas.setAttribute("data-drawn", "true");
})();
