// careloop campaign report: state buttons, KPIs, the funnel chart, details and audit trail.
(function () {
  "use strict";
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const $ = (id) => document.getElementById(id);
  const id = $("report").dataset.campaign;
  let funnel = null;

  async function api(method, url, body) {
    const res = await fetch(url, {
      method: method,
      headers: Object.assign({ "X-CSRF-Token": csrf }, body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
    });
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
    const measurable = !report.uplift_note && lift.absolute !== null;
    $("kpi-uplift").textContent = measurable
      ? pct(lift.absolute) + " (" + pct(lift.absolute_ci95[0]) + " … " + pct(lift.absolute_ci95[1]) + ")"
      : "not enough data";
    $("kpi-uplift").title = report.uplift_note || "";
    $("report-empty").textContent = report.empty_reason || "";
    $("report-empty").hidden = !report.empty_reason;
    const web = campaign.channel === "web";
    $("kpi-waiting-box").hidden = !web;
    $("kpi-waiting").textContent = report.waiting_for_customer;
    $("report-channel-note").textContent = web
      ? "Web-chat offers count as delivered only when the customer next opens the chat; until then they are waiting for the customer."
      : "";
    $("report-channel-note").hidden = !web;
    $("kpi-roi").textContent = report.roi === null ? "–" : report.roi.toFixed(2);
    const labels = report.funnel.map((s) => s.stage);
    const counts = report.funnel.map((s) => s.count);
    if (funnel) funnel.destroy();
    funnel = new Chart($("chart-funnel"), {
      type: "bar",
      data: { labels: labels, datasets: [{ label: "customers", data: counts, backgroundColor: "#2f6fed" }] },
      options: {
        indexAxis: "y", responsive: true, animation: false, plugins: { legend: { display: false } },
        scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    $("chart-funnel").dataset.points = String(labels.length);
    const rows = [
      ["conversion, treatment", pct(report.conversions.treatment_rate) + " (" + report.conversions.treatment + ")"],
      ["conversion, control", pct(report.conversions.control_rate) + " (" + report.conversions.control + ")"],
      ["uplift", report.uplift_note || "measurable"],
      ["relative uplift", lift.relative === null || report.uplift_note ? "not enough data" : pct(lift.relative) + " (" + pct(lift.relative_ci95[0]) + " … " + pct(lift.relative_ci95[1]) + ")"],
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

  // Activate: show what it would do (audience, skips and why, warnings), then confirm.
  let kind = "";
  async function showActivation() {
    const include = $("include-existing").checked;
    const p = await api("GET", "/api/v1/campaigns/" + id + "/activation-preview?include_existing=" + include);
    kind = p.schedule_kind;
    $("activate-when").textContent = "Sends " + p.when.text + ".";
    const rows = [
      ["audience", p.audience],
      ["control group (not messaged)", p.control],
      ["treatment group", p.treatment],
    ];
    Object.entries(p.skipped).forEach(([reason, n]) => rows.push(["skipped: " + p.skipped_labels[reason], n]));
    rows.push(["messages to send", p.will_send]);
    const tbody = $("activate-counts").querySelector("tbody");
    tbody.replaceChildren();
    rows.forEach(([k, v]) => {
      const r = el("tr");
      r.append(el("th", k), el("td", String(v)));
      r.dataset.key = k;
      tbody.appendChild(r);
    });
    $("include-existing-row").hidden = kind !== "triggered";
    $("already-matching").textContent = p.already_matching;
    $("activate-empty").textContent = p.empty_reason || "";
    $("activate-empty").hidden = !p.empty_reason;
    const warnings = $("activate-warnings");
    warnings.replaceChildren();
    p.warnings.forEach((w) => warnings.appendChild(el("li", w)));
    $("activate-confirm").textContent = p.when.kind === "now" ? "Send now to " + p.will_send : "Activate";
    $("activate-dialog").dataset.audience = String(p.audience);
  }

  $("activate").addEventListener("click", async () => {
    showError("");
    $("activate-error").hidden = true;
    $("include-existing").checked = false;
    try {
      await showActivation();
      $("activate-dialog").showModal();
    } catch (err) { showError(err.message); }
  });
  $("include-existing").addEventListener("change", () => showActivation().catch((err) => {
    $("activate-error").textContent = err.message; $("activate-error").hidden = false;
  }));
  $("activate-cancel").addEventListener("click", () => $("activate-dialog").close());
  $("activate-confirm").addEventListener("click", async () => {
    try {
      const body = kind === "triggered" ? { include_existing: $("include-existing").checked } : {};
      await api("POST", "/api/v1/campaigns/" + id + "/activate", body);
      $("activate-dialog").close();
      await load();
    } catch (err) { $("activate-error").textContent = err.message; $("activate-error").hidden = false; }
  });

  ["pause", "finish"].forEach((action) => {
    $(action).addEventListener("click", async () => {
      showError("");
      try { await api("POST", "/api/v1/campaigns/" + id + "/" + action); await load(); }
      catch (err) { showError(err.message); }
    });
  });
  load().catch((err) => showError(err.message));
})();
