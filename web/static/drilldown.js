// careloop drill-down: the conversations behind one number, read from the export API.
(function () {
  "use strict";
  const query = location.search.replace(/^\?/, "");
  const tbody = document.querySelector("#drill-table tbody");
  const marketer = document.getElementById("drilldown").dataset.role === "marketer";

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function minutes(s) { return s === null ? "–" : s < 3600 ? Math.round(s / 60) + " min" : (s / 3600).toFixed(1) + " h"; }

  document.getElementById("drill-filters").textContent = "Filters: " + (decodeURIComponent(query).replace(/&/g, " · ").replace(/=/g, " = ") || "last 30 days");
  document.getElementById("drill-csv").setAttribute("href", "/api/v1/conversations/export?format=csv&" + query);
  fetch("/api/v1/conversations/export?format=jsonl&" + query).then(async function (res) {
    const text = await res.text();
    if (!res.ok) { const body = JSON.parse(text); throw new Error(body.error ? body.error.message : "Could not load"); }
    const rows = text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    tbody.replaceChildren();
    rows.forEach(function (r) {
      const row = el("tr", { class: "drill-row", "data-id": r.id });
      // Marketers read a masked, read-only transcript; admins open the agents' view.
      const target = marketer ? "/analytics/conversations/" + r.id : "/inbox/conversations/" + r.id;
      const id = el("td"); id.appendChild(el("a", { href: target }, "#" + r.id)); row.appendChild(id);
      row.appendChild(el("td", {}, new Date(r.started_at).toLocaleString()));
      row.appendChild(el("td", {}, r.channel));
      row.appendChild(el("td", {}, r.segment || "–"));
      row.appendChild(el("td", {}, r.intents.join(", ") || "–"));
      row.appendChild(el("td", {}, r.escalation_reason ? r.escalation_reason.replace(/_/g, " ") : "–"));
      row.appendChild(el("td", {}, r.agent || "–"));
      row.appendChild(el("td", {}, minutes(r.first_response_seconds)));
      row.appendChild(el("td", {}, r.first_response_hit === false || r.resolution_hit === false ? "missed" : r.first_response_hit || r.resolution_hit ? "hit" : "–"));
      row.appendChild(el("td", {}, r.csat === null ? "–" : String(r.csat)));
      tbody.appendChild(row);
    });
    if (!rows.length) { const row = el("tr"); row.appendChild(el("td", { colspan: "10", class: "muted" }, "No conversations match these filters: widen the dates or remove a filter.")); tbody.appendChild(row); }
    document.getElementById("drilldown").dataset.loaded = String(rows.length);
  }).catch(function (e) {
    const box = document.getElementById("drill-error"); box.textContent = e.message; box.hidden = false;
  });
})();
