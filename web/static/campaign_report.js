// careloop campaign report: state buttons, KPIs, the funnel chart, details and audit trail.
(function () {
  "use strict";
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const $ = (id) => document.getElementById(id);
  const id = $("report").dataset.campaign;
  let funnel = null;

  async function api(method, url) {
    const res = await fetch(url, { method: method, headers: { "X-CSRF-Token": csrf } });
    const data = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error((data.error && data.error.message) || res.statusText);
    return data;
  }

  function el(tag, text) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  const pct = (v) => (v === null || v === undefined ? "–" : (100 * v).toFixed(1) + " %");

  function showError(message) {
    $("report-error").textContent = message || "";
    $("report-error").hidden = !message;
  }

  async function load() {
    const campaign = await api("GET", "/api/v1/campaigns/" + id);
    const report = await api("GET", "/api/v1/campaigns/" + id + "/report");
    $("report-title").textContent = campaign.name;
    $("report-status").textContent = campaign.status + " · " + campaign.channel + " · " + campaign.schedule_kind;
    $("report-status").dataset.status = campaign.status;
    $("activate").hidden = !["draft", "paused"].includes(campaign.status);
    $("pause").hidden = !["scheduled", "active"].includes(campaign.status);
    $("finish").hidden = campaign.status === "finished";
    $("kpi-audience").textContent = report.audience;
    $("kpi-treatment").textContent = report.treatment;
    $("kpi-control").textContent = report.control;
    $("kpi-delivered").textContent = report.delivered;
    const lift = report.uplift;
    $("kpi-uplift").textContent = lift.absolute === null ? "–"
      : pct(lift.absolute) + " (" + pct(lift.absolute_ci95[0]) + " … " + pct(lift.absolute_ci95[1]) + ")";
    $("kpi-roi").textContent = report.roi === null ? "–" : report.roi.toFixed(2);
    const labels = report.funnel.map((s) => s.stage);
    const counts = report.funnel.map((s) => s.count);
    if (funnel) funnel.destroy();
    funnel = new Chart($("chart-funnel"), {
      type: "bar",
      data: { labels: labels, datasets: [{ label: "customers", data: counts, backgroundColor: "#2f6fed" }] },
      options: { indexAxis: "y", responsive: true, animation: false, plugins: { legend: { display: false } } },
    });
    $("chart-funnel").dataset.points = String(labels.length);
    const rows = [
      ["conversion, treatment", pct(report.conversions.treatment_rate) + " (" + report.conversions.treatment + ")"],
      ["conversion, control", pct(report.conversions.control_rate) + " (" + report.conversions.control + ")"],
      ["relative uplift", lift.relative === null ? "–" : pct(lift.relative) + " (" + pct(lift.relative_ci95[0]) + " … " + pct(lift.relative_ci95[1]) + ")"],
      ["incremental revenue", report.incremental_revenue || "–"],
      ["costs", report.costs],
      ["redemptions", report.redemptions],
      ["replies (conversations)", report.replies.conversations],
      ["replies that went to agents", report.replies.escalated + " (complaints: " + report.replies.complaints + ")"],
    ];
    Object.entries(report.skipped).forEach(([reason, n]) => rows.push(["skipped: " + reason, n]));
    const tbody = $("report-table").querySelector("tbody");
    tbody.replaceChildren();
    rows.forEach(([k, v]) => { const r = el("tr"); r.append(el("th", k), el("td", String(v))); tbody.appendChild(r); });
    const audit = $("audit-table").querySelector("tbody");
    audit.replaceChildren();
    campaign.audit.forEach((a) => {
      const r = el("tr");
      r.append(el("td", a.at.replace("T", " ").slice(0, 19)), el("td", a.user), el("td", a.action),
        el("td", Object.keys(a.changes).join(", ")));
      audit.appendChild(r);
    });
    $("report").dataset.loaded = String(Date.now());
  }

  ["activate", "pause", "finish"].forEach((action) => {
    $(action).addEventListener("click", async () => {
      showError("");
      try { await api("POST", "/api/v1/campaigns/" + id + "/" + action); await load(); }
      catch (err) { showError(err.message); }
    });
  });
  load().catch((err) => showError(err.message));
})();
