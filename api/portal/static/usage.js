// The usage charts over time, one per resource (each on its own scale), drawn by Chart.js (vendored,
// pinned in package.json) from the figures the page's table shows; without JavaScript the table is the chart.
(function () {
  "use strict";
  var source = document.getElementById("usage-data");
  if (!source || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var colours = ["#0b5394", "#b35c00", "#0f5d2a", "#6a3d9a"];
  document.querySelectorAll("canvas[data-series]").forEach(function (canvas) {
    var index = Number(canvas.getAttribute("data-series"));
    var series = data.series[index];
    new Chart(canvas, {
      type: "line",
      data: {labels: data.labels, datasets: [{label: series.label, data: series.data, borderColor: colours[index],
             backgroundColor: colours[index], pointRadius: data.labels.length > 48 ? 0 : 2, stepped: false}]},
      options: {locale: data.locale, responsive: true, animation: false, interaction: {mode: "index", intersect: false},
                plugins: {legend: {display: false}, tooltip: {rtl: data.rtl}},
                scales: {x: {reverse: data.rtl, ticks: {autoSkip: true, maxRotation: 0}},
                         y: {beginAtZero: true, position: data.rtl ? "right" : "left"}}}
    });
    canvas.setAttribute("data-drawn", "true");
  });
})();
