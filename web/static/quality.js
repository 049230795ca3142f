// careloop bot quality page: /api/v1/analytics/quality; every chart element links to the
// conversations behind it (/analytics/conversations with the same filters plus its own).
(function () {
  "use strict";
  const red = "#d64545", amber = "#e0a030", green = "#2e9e5b", blue = "#2f6fed";
  const form = document.getElementById("quality-filters");
  const charts = {};

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function base() {
    const params = new URLSearchParams();
    new FormData(form).forEach(function (v, k) { if (v) params.set(k, v); });
    return params;
  }

  function drill(extra) {
    const params = base();
    Object.entries(extra).forEach(([k, v]) => params.set(k, v));
    return "/analytics/conversations?" + params.toString();
  }

  function chart(id, labels, data, colour, links) {
    if (charts[id]) charts[id].destroy();
    const canvas = document.getElementById(id);
    charts[id] = new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: [{ data: data, backgroundColor: colour }] },
      options: {
        responsive: true, animation: false,
        plugins: { legend: { display: false } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
        onHover: function (ev, items) { canvas.style.cursor = items.length ? "pointer" : "default"; },
        onClick: function (ev, items) { if (items.length) location.href = links[items[0].index]; },
      },
    });
    canvas.dataset.points = String(labels.length);
    canvas.dataset.links = JSON.stringify(links);
  }

  // An empty chart says why it is empty (and hides its blank axes).
  function emptyNote(id, message) {
    const canvas = document.getElementById(id);
    const figure = canvas.parentElement;
    let note = figure.querySelector(".chart-empty");
    if (!note) { note = el("p", { class: "chart-empty empty-state" }); figure.appendChild(note); }
    note.textContent = message || "";
    note.hidden = !message;
    canvas.hidden = Boolean(message);
  }

  function kpi(id, value, href) {
    const box = document.getElementById(id);
    box.querySelector(".kpi-value").textContent = value === null || value === undefined ? "–" : value + " %";
    box.setAttribute("href", href);
  }

  function render(r) {
    kpi("kpi-containment", r.containment_rate, drill({ contained: "true" }));
    kpi("kpi-handoff", r.handoff_rate, drill({ escalated: "true" }));
    kpi("kpi-notsure", r.not_sure_rate, drill({ not_sure: "true" }));
    kpi("kpi-sla", r.sla.first_response.hit_rate, drill({ sla_missed: "true" }));
    const intents = r.handoff_by_intent;
    chart("chart-intent", intents.map((i) => i.intent), intents.map((i) => i.rate), blue,
      intents.map((i) => drill({ intent: i.intent, escalated: "true" })));
    const reasons = r.handoff_by_reason;
    chart("chart-reason", reasons.map((x) => x.reason.replace(/_/g, " ")), reasons.map((x) => x.handoffs), amber,
      reasons.map((x) => drill({ reason: x.reason })));
    chart("chart-csat", ["bot only", "human"], [r.csat.bot.csat_pct, r.csat.human.csat_pct], [green, blue],
      [drill({ csat: "bot" }), drill({ csat: "human" })]);
    emptyNote("chart-csat", r.csat.bot.answers + r.csat.human.answers === 0
      ? "No CSAT answers for these conversations: customers are asked after a conversation is resolved."
      : "");
    emptyNote("chart-intent", intents.length === 0 ? "No conversations in this period." : "");
    emptyNote("chart-reason", reasons.length === 0 ? "No handoffs to agents in this period." : "");
    chart("chart-first", r.first_response_time.map((b) => b.bucket), r.first_response_time.map((b) => b.conversations), blue,
      r.first_response_time.map((b) => drill({ first_response: b.bucket })));
    chart("chart-resolution", r.resolution_time.map((b) => b.bucket), r.resolution_time.map((b) => b.conversations), red,
      r.resolution_time.map((b) => drill({ resolution: b.bucket })));
    const tbody = document.querySelector("#corrections-table tbody");
    tbody.replaceChildren();
    r.corrections.forEach(function (c) {
      const row = el("tr");
      row.appendChild(el("td", {}, c.model));
      row.appendChild(el("td", {}, c.agent));
      const n = el("td"); n.appendChild(el("a", { href: drill({ corrected: c.pair }) }, String(c.count))); row.appendChild(n);
      tbody.appendChild(row);
    });
    if (!r.corrections.length) { const row = el("tr"); row.appendChild(el("td", { colspan: "3", class: "muted" }, "No corrections in this period.")); tbody.appendChild(row); }
    document.getElementById("export-csv").setAttribute("href", "/api/v1/conversations/export?format=csv&" + base().toString());
    document.getElementById("quality").dataset.loaded = "true";
  }

  async function load() {
    const box = document.getElementById("quality-error");
    try {
      const res = await fetch("/api/v1/analytics/quality?" + base().toString());
      const body = await res.json();
      if (!res.ok) throw new Error(body.error ? body.error.message : "Could not load the report");
      box.hidden = true;
      render(body);
    } catch (e) { box.textContent = e.message; box.hidden = false; }
  }

  const params = new URLSearchParams(location.search);
  const today = new Date();
  const from = new Date(today.getTime() - 29 * 86400000);
  form.elements.start.value = params.get("start") || from.toISOString().slice(0, 10);
  form.elements.end.value = params.get("end") || today.toISOString().slice(0, 10);
  ["agent_id", "segment"].forEach(function (k) { if (params.get(k)) form.elements[k].value = params.get(k); });
  fetch("/api/v1/teams").then((r) => (r.ok ? r.json() : { teams: [] })).then(function (d) {
    d.teams.forEach(function (t) { form.elements.team_id.appendChild(el("option", { value: t.id }, t.name)); });
    if (params.get("team_id")) form.elements.team_id.value = params.get("team_id");
  });
  form.addEventListener("submit", function (ev) { ev.preventDefault(); history.replaceState(null, "", "?" + base().toString()); load(); });
  load();
})();
