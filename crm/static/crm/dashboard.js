/* Supervisor dashboard charts. The numbers come from the page (json_script); each
   chart has a table beside it saying the same, so a missing chart loses nothing. */
(function () {
  "use strict";

  var source = document.getElementById("dashboard-data");
  if (!source || typeof window.Chart === "undefined") return;
  var data = JSON.parse(source.textContent);

  var ACCENT = "#0b5cab";
  var OK = "#1d7a3e";
  var INK = "#1b2430";

  window.Chart.defaults.color = INK;
  window.Chart.defaults.font.family =
    'system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif';

  function draw(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas) return;
    config.options = Object.assign(
      { responsive: true, maintainAspectRatio: false, animation: false },
      config.options || {}
    );
    new window.Chart(canvas, config);
  }

  var counts = { beginAtZero: true, ticks: { precision: 0 } };

  if (data.funnel) {
    draw("funnel-chart", {
      type: "bar",
      data: {
        labels: data.funnel.labels,
        datasets: [{ label: "Leads", data: data.funnel.leads, backgroundColor: ACCENT }],
      },
      options: {
        indexAxis: "y",
        plugins: { legend: { display: false } },
        scales: { x: counts },
      },
    });
  }

  if (data.hours) {
    draw("hours-chart", {
      type: "bar",
      data: {
        labels: data.hours.labels,
        datasets: [
          {
            label: "Median minutes to first response",
            data: data.hours.median_minutes,
            backgroundColor: ACCENT,
          },
        ],
      },
      options: {
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              afterLabel: function (item) {
                return data.hours.leads[item.dataIndex] + " leads";
              },
            },
          },
        },
        scales: {
          y: { beginAtZero: true, title: { display: true, text: "Minutes" } },
        },
      },
    });
  }

  if (data.vob_bands) {
    // Bands within the turnaround target in green, the slower ones in blue.
    draw("vob-chart", {
      type: "bar",
      data: {
        labels: data.vob_bands.labels,
        datasets: [
          {
            label: "Completed VOBs",
            data: data.vob_bands.vobs,
            backgroundColor: data.vob_bands.within_target.map(function (within) {
              return within ? OK : ACCENT;
            }),
          },
        ],
      },
      options: {
        plugins: { legend: { display: false } },
        scales: { y: counts },
      },
    });
  }

  if (data.sources) {
    draw("sources-chart", {
      type: "bar",
      data: {
        labels: data.sources.labels,
        datasets: [
          { label: "Leads", data: data.sources.leads, backgroundColor: ACCENT },
          { label: "Admissions", data: data.sources.admissions, backgroundColor: OK },
        ],
      },
      options: { scales: { y: counts } },
    });
  }
})();
