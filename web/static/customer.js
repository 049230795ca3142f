// careloop customer 360 page: /api/v1/customers/{id}.
(function () {
  "use strict";
  const root = document.getElementById("customer");
  const id = root.dataset.customerId;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function list(target, items, render) {
    const ul = document.getElementById(target);
    ul.replaceChildren();
    items.forEach((item) => ul.appendChild(render(item)));
    if (!items.length) ul.appendChild(el("li", { class: "muted" }, "none"));
  }

  function render(c) {
    document.getElementById("customer-name").textContent = c.name + (c.erased ? " (erased)" : "");
    const facts = document.getElementById("customer-facts");
    facts.replaceChildren();
    const s = c.satisfaction;
    [["Customer id", c.external_id], ["Email", c.email], ["Phone", c.phone], ["Birthday", c.birthday],
     ["Time zone", c.timezone], ["Marketing", c.marketing_consent ? "consents" : (c.opted_out_at ? "opted out" : "no consent")],
     ["Segment", c.segment ? c.segment + " (" + c.rfm_score + ")" : null], ["CLV", c.clv],
     ["Churn risk", c.churn_risk ? c.churn_risk + " (" + Math.round(100 * c.churn_probability) + " %)" : null],
     ["CSAT", s.csat_count ? s.csat_last + " last, " + s.csat_avg.toFixed(1) + " average" : null],
     ["NPS", s.nps_last !== null ? s.nps_last + " (" + s.nps_category + ")" : null],
     ["Orders", c.order_count + " · " + c.total_spent], ["Scored", c.scored_at ? new Date(c.scored_at).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : null]].forEach(function ([k, v]) {
      facts.appendChild(el("dt", {}, k)); facts.appendChild(el("dd", {}, v === null || v === undefined ? "–" : String(v)));
    });
    list("customer-reasons", c.churn_reasons, (r) => el("li", {}, r));
    list("customer-identities", c.identities, (i) => el("li", {}, i.channel + (i.external_id ? " " + i.external_id : "") + (i.reachable ? "" : " · unreachable (" + i.unreachable_reason + ")")));
    list("customer-orders", c.orders, (o) => el("li", {}, o.ref + " · " + o.date + " · " + o.status + " · " + o.total));
    list("customer-conversations", c.conversations, function (p) {
      const li = el("li");
      li.appendChild(el("a", { href: "/inbox/conversations/" + p.id }, "#" + p.id));
      li.appendChild(document.createTextNode(" " + p.channel + " · " + p.status + (p.reason ? " · " + p.reason.replace(/_/g, " ") : "")));
      return li;
    });
    list("customer-surveys", c.surveys, (v) => el("li", {}, v.kind.toUpperCase() + " " + (v.score === null ? "–" : v.score) + " (" + v.status + ")" + (v.comment ? ": \u201c" + v.comment + "\u201d" : "")));
    list("customer-events", c.events, (e) => el("li", {}, e.at.slice(0, 16).replace("T", " ") + " · " + e.kind + (e.data && e.data.to ? ": " + (e.data.from || "none") + " → " + e.data.to : "")));
    root.dataset.loaded = "true";
  }

  fetch("/api/v1/customers/" + encodeURIComponent(id)).then(async function (res) {
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : "Could not load the customer");
    render(body);
  }).catch(function (e) {
    const box = document.getElementById("customer-error"); box.textContent = e.message; box.hidden = false;
  });
})();
