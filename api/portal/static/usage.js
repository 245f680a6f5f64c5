// The usage chart, drawn by Chart.js (vendored, pinned in package.json) from the figures the page's table shows.
(function () {
  "use strict";
  var source = document.getElementById("usage-data");
  var canvas = document.getElementById("usage-chart");
  if (!source || !canvas || typeof Chart === "undefined") { return; }
  var data = JSON.parse(source.textContent);
  var colours = ["#0b5394", "#b35c00", "#0f5d2a"];
  new Chart(canvas, {
    type: "bar",
    data: {labels: data.labels, datasets: data.series.map(function (s, i) { return {label: s.label, data: s.data, backgroundColor: colours[i]}; })},
    options: {locale: data.locale, responsive: true, plugins: {legend: {rtl: data.rtl, position: "bottom"}, tooltip: {rtl: data.rtl}},
              scales: {x: {reverse: data.rtl}, y: {beginAtZero: true, position: data.rtl ? "right" : "left"}}}
  });
})();
