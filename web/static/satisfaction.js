// careloop satisfaction page: reads /api/v1/analytics/satisfaction and draws the charts
// with the vendored Chart.js (no CDN).
(function () {
  "use strict";
  const form = document.getElementById("report-form");
  const startInput = document.getElementById("report-start");
  const endInput = document.getElementById("report-end");
  const bucketInput = document.getElementById("report-bucket");
  const errorBox = document.getElementById("report-error");
  const charts = {};
  const blue = "#2f6fed", green = "#2e9e5b", red = "#d64545", grey = "#9aa3b0";

  function isoDay(d) { return d.toISOString().slice(0, 10); }
  const today = new Date();
  endInput.value = isoDay(today);
  startInput.value = isoDay(new Date(today.getTime() - 89 * 86400000));

  function text(id, value, suffix) {
    document.getElementById(id).textContent = value === null || value === undefined ? "–" : value + (suffix || "");
  }

  function draw(id, config) {
    if (charts[id]) charts[id].destroy();
    config.options = Object.assign({ responsive: true, animation: false, plugins: { legend: { display: config.data.datasets.length > 1 } } }, config.options || {});
    charts[id] = new Chart(document.getElementById(id), config);
    document.getElementById(id).dataset.points = String(config.data.labels.length);
  }

  function bars(id, labels, values, colour, options) {
    draw(id, { type: "bar", data: { labels: labels, datasets: [{ label: id, data: values, backgroundColor: colour }] }, options: options });
  }

  // An empty chart says why it is empty (and hides its blank axes).
  function emptyNote(id, message) {
    const canvas = document.getElementById(id);
    const figure = canvas.parentElement;
    let note = figure.querySelector(".chart-empty");
    if (!note) { note = document.createElement("p"); note.className = "chart-empty empty-state"; figure.appendChild(note); }
    note.textContent = message || "";
    note.hidden = !message;
    canvas.hidden = Boolean(message);
  }

  const counts = { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } };

  function render(report) {
    text("kpi-csat", report.csat.csat_pct, "%");
    text("kpi-nps", report.nps.nps);
    text("kpi-ces", report.ces.average);
    text("kpi-rate", report.response_rate.csat.rate_pct, "%");
    text("kpi-followups", report.follow_ups);

    const t = report.over_time;
    draw("chart-trend", {
      type: "line",
      data: {
        labels: t.map((r) => r.bucket),
        datasets: [
          { label: "CSAT %", data: t.map((r) => r.csat_pct), borderColor: blue, backgroundColor: blue, spanGaps: true },
          { label: "NPS", data: t.map((r) => r.nps), borderColor: green, backgroundColor: green, spanGaps: true },
        ],
      },
      options: { scales: { y: { min: -100, max: 100 } } },
    });
    const csat = report.csat.distribution;
    bars("chart-csat-dist", Object.keys(csat), Object.values(csat), Object.keys(csat).map((k) => (k >= 4 ? green : k <= 2 ? red : grey)), counts);
    const npsDist = report.nps.distribution;
    bars("chart-nps-dist", Object.keys(npsDist), Object.values(npsDist), Object.keys(npsDist).map((k) => (k >= 9 ? green : k <= 6 ? red : grey)), counts);
    bars("chart-agents", report.by_agent.map((r) => r.agent), report.by_agent.map((r) => r.csat_pct), blue, { indexAxis: "y", scales: { x: { min: 0, max: 100 } } });
    bars("chart-topics", report.by_topic.map((r) => r.topic), report.by_topic.map((r) => r.csat_pct), blue, { indexAxis: "y", scales: { x: { min: 0, max: 100 } } });
    bars("chart-churn", report.churn_by_csat.map((r) => "CSAT " + r.band + " (" + r.observed + " observed)"), report.churn_by_csat.map((r) => r.churn_rate_pct), [red, grey, green], { scales: { y: { min: 0, max: 100 } } });
    const answered = report.churn_by_csat.reduce((n, r) => n + r.customers, 0);
    const observed = report.churn_by_csat.reduce((n, r) => n + r.observed, 0);
    emptyNote("chart-churn", answered === 0
      ? "No CSAT answers in this period: customers are asked after a conversation is resolved."
      : observed === 0
        ? "No CSAT answer is " + report.churn_days + " days old yet: churn shows once a customer has had " + report.churn_days + " days to order again."
        : "");
    const csatTotal = Object.values(csat).reduce((n, v) => n + v, 0);
    emptyNote("chart-csat-dist", csatTotal === 0 ? "No CSAT answers in this period: customers are asked after a conversation is resolved." : "");
    const npsTotal = Object.values(npsDist).reduce((n, v) => n + v, 0);
    emptyNote("chart-nps-dist", npsTotal === 0 ? "No NPS answers in this period." : "");
    emptyNote("chart-agents", report.by_agent.length === 0 ? "No CSAT answers for conversations handled by agents in this period." : "");
    emptyNote("chart-topics", report.by_topic.length === 0 ? "No CSAT answers with a known topic in this period." : "");

    const body = document.getElementById("agents-body");
    body.replaceChildren();
    report.by_agent.forEach(function (r) {
      const row = document.createElement("tr");
      [r.agent, r.responses, r.csat_pct === null ? "–" : r.csat_pct + "%", r.average === null ? "–" : r.average].forEach(function (v) {
        const cell = document.createElement("td");
        cell.textContent = v;
        row.appendChild(cell);
      });
      body.appendChild(row);
    });
    document.getElementById("satisfaction").dataset.loaded = "true";
  }

  async function load() {
    const params = new URLSearchParams({ start: startInput.value, end: endInput.value, bucket: bucketInput.value });
    try {
      const res = await fetch("/api/v1/analytics/satisfaction?" + params.toString(), { headers: { Accept: "application/json" } });
      const body = await res.json();
      if (!res.ok) { errorBox.textContent = body.error ? body.error.message : "Could not load the report"; errorBox.hidden = false; return; }
      errorBox.hidden = true;
      render(body);
    } catch (e) {
      errorBox.textContent = "Could not load the report; is the server running?";
      errorBox.hidden = false;
    }
  }

  form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
  load();
})();
