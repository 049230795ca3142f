// careloop segments page: /api/v1/analytics/segments drawn with the vendored Chart.js.
(function () {
  "use strict";
  const red = "#d64545", amber = "#e0a030", green = "#2e9e5b", blue = "#2f6fed", grey = "#9aa3b0";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function chart(id, config) {
    config.options = Object.assign({ responsive: true, animation: false }, config.options || {});
    new Chart(document.getElementById(id), config);
    document.getElementById(id).dataset.points = String(config.data.labels.length);
  }

  async function members(segment) {
    const res = await fetch("/api/v1/customers?segment=" + encodeURIComponent(segment) + "&limit=20");
    const body = await res.json();
    const title = document.getElementById("members-title");
    const table = document.getElementById("members-table");
    title.textContent = segment + ": most at risk first";
    title.hidden = false; table.hidden = false;
    const tbody = table.querySelector("tbody");
    tbody.replaceChildren();
    body.customers.forEach(function (c) {
      const row = el("tr");
      const name = el("td"); name.appendChild(el("a", { href: "/customers/" + c.id }, c.name)); row.appendChild(name);
      row.appendChild(el("td", {}, c.email || "–"));
      row.appendChild(el("td", {}, c.clv || "–"));
      row.appendChild(el("td", {}, c.churn_risk ? c.churn_risk + " (" + Math.round(100 * c.churn_probability) + " %)" : "–"));
      tbody.appendChild(row);
    });
  }

  function render(r) {
    const segs = r.segments;
    document.getElementById("kpi-customers").textContent = segs.reduce((n, s) => n + s.customers, 0);
    document.getElementById("kpi-high").textContent = r.churn_risk_totals.high;
    document.getElementById("kpi-medium").textContent = r.churn_risk_totals.medium;
    const labels = segs.map((s) => s.segment);
    chart("chart-sizes", { type: "bar", data: { labels: labels, datasets: [{ label: "customers", data: segs.map((s) => s.customers), backgroundColor: blue }] }, options: { plugins: { legend: { display: false } }, scales: { y: { ticks: { precision: 0 } } } } });
    chart("chart-revenue", { type: "bar", data: { labels: labels, datasets: [{ label: "revenue %", data: segs.map((s) => s.revenue_share_pct), backgroundColor: green }] }, options: { plugins: { legend: { display: false } } } });
    chart("chart-risk", {
      type: "bar",
      data: { labels: labels, datasets: [
        { label: "high", data: segs.map((s) => s.churn_risk.high || 0), backgroundColor: red },
        { label: "medium", data: segs.map((s) => s.churn_risk.medium || 0), backgroundColor: amber },
        { label: "low", data: segs.map((s) => s.churn_risk.low || 0), backgroundColor: green },
        { label: "unscored", data: segs.map((s) => s.churn_risk.unscored || 0), backgroundColor: grey },
      ] },
      options: { scales: { x: { stacked: true }, y: { stacked: true, ticks: { precision: 0 } } } },
    });
    const hist = r.churn_probability_histogram;
    chart("chart-churn-hist", { type: "bar", data: { labels: hist.map((h) => Math.round(h.from * 100) + "–" + Math.round(h.to * 100) + " %"), datasets: [{ label: "customers", data: hist.map((h) => h.customers), backgroundColor: hist.map((h) => (h.from >= 0.6 ? red : h.from >= 0.3 ? amber : green)) }] }, options: { plugins: { legend: { display: false } }, scales: { y: { ticks: { precision: 0 } } } } });

    // Heat map: rows R 5..1, columns FM 1..5, colour by average CLV.
    const grid = {}; let max = 0;
    r.clv_heatmap.forEach(function (c) { grid[c.r + ":" + c.fm] = c; max = Math.max(max, c.average_clv); });
    const tbody = document.querySelector("#clv-heatmap tbody");
    tbody.replaceChildren();
    const head = el("tr"); head.appendChild(el("th", {}, "R \\ FM"));
    for (let fm = 1; fm <= 5; fm++) head.appendChild(el("th", {}, String(fm)));
    tbody.appendChild(head);
    for (let rr = 5; rr >= 1; rr--) {
      const row = el("tr"); row.appendChild(el("th", {}, String(rr)));
      for (let fm = 1; fm <= 5; fm++) {
        const c = grid[rr + ":" + fm];
        const cell = el("td", { class: "heat" }, c ? c.average_clv.toFixed(0) + " · " + c.customers : "–");
        if (c && max > 0) cell.style.background = "rgba(47,111,237," + (0.1 + 0.8 * c.average_clv / max).toFixed(2) + ")";
        row.appendChild(cell);
      }
      tbody.appendChild(row);
    }
    const table = document.querySelector("#segments-table tbody");
    table.replaceChildren();
    segs.forEach(function (s) {
      const row = el("tr");
      row.appendChild(el("td", {}, s.segment));
      row.appendChild(el("td", {}, String(s.customers)));
      row.appendChild(el("td", {}, s.average_clv === null ? "–" : s.average_clv.toFixed(2)));
      row.appendChild(el("td", {}, s.revenue_share_pct === null ? "–" : s.revenue_share_pct + " %"));
      row.appendChild(el("td", {}, String(s.churn_risk.high || 0)));
      const cell = el("td"); const button = el("button", { type: "button", class: "link" }, "members");
      button.addEventListener("click", function () { members(s.segment); });
      cell.appendChild(button); row.appendChild(cell);
      table.appendChild(row);
    });
    document.getElementById("segments").dataset.loaded = "true";
  }

  fetch("/api/v1/analytics/segments").then(async function (res) {
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : "Could not load the segments");
    render(body);
  }).catch(function (e) {
    const box = document.getElementById("segments-error"); box.textContent = e.message; box.hidden = false;
  });
})();
