// careloop agent inbox: the queue and the conversation view, on /api/v1/inbox only.
(function () {
  "use strict";
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  async function api(method, path, body) {
    const res = await fetch("/api/v1/inbox" + path, {
      method: method,
      headers: Object.assign({ "X-CSRF-Token": csrf }, body ? { "Content-Type": "application/json" } : {}),
      body: body ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
    });
    const data = await res.json().catch(function () { return {}; });
    if (res.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); }
    if (!res.ok) { throw new Error(data.error ? data.error.message : "Request failed (" + res.status + ")"); }
    return data;
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([k, v]) { if (v !== null && v !== undefined) node.setAttribute(k, v); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function waited(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    if (seconds < 60) return seconds + " s";
    if (seconds < 3600) return Math.floor(seconds / 60) + " min";
    return Math.floor(seconds / 3600) + " h " + Math.floor((seconds % 3600) / 60) + " min";
  }

  function sentimentLabel(score) {
    if (score === null || score === undefined) return "–";
    const s = Number(score);
    return (s <= -0.3 ? "negative " : s >= 0.3 ? "positive " : "neutral ") + s.toFixed(2);
  }

  function showError(box, message) { box.textContent = message || ""; box.hidden = !message; }

  // "German" for "de", in the agent's own language where the browser knows it.
  function languageName(code) {
    try {
      return new Intl.DisplayNames([navigator.language || "en"], { type: "language" }).of(code) || code;
    } catch (e) {
      return code;
    }
  }

  function slaText(state, due) {
    if (!state) return "–";
    const when = due ? new Date(due) : null;
    const left = when ? Math.round((when - Date.now()) / 60000) : null;
    const label = state === "on_track" ? "on track" : state.replace(/_/g, " ");
    if (left === null || state === "breached") return label;
    return label + " · " + (left >= 0 ? left + " min left" : -left + " min over");
  }

  function listen(onChange, stateEl) {
    const source = new EventSource("/api/v1/inbox/events");
    source.onopen = function () { if (stateEl) { stateEl.textContent = "live"; stateEl.classList.add("on"); } };
    source.onerror = function () { if (stateEl) { stateEl.textContent = "reconnecting…"; stateEl.classList.remove("on"); } };
    source.addEventListener("changed", function (ev) { onChange(JSON.parse(ev.data).ids || []); });
  }

  // ---- the queue -----------------------------------------------------------------------
  const inbox = document.getElementById("inbox");
  if (inbox) {
    const body = document.getElementById("queue-body");
    const errorBox = document.getElementById("inbox-error");
    let view = "queue";
    const sortBox = document.getElementById("queue-sort");
    const notesLink = document.getElementById("notes-link");
    const notesList = document.getElementById("notes-list");

    const notice = document.getElementById("assign-notice");
    async function notes() {
      try {
        const data = await api("GET", "/notifications");
        // Auto-assign notices show as a banner until the agent acknowledges them.
        const assigned = data.notifications.filter(function (n) { return n.kind === "auto_assigned"; });
        const alerts = data.notifications.filter(function (n) { return n.kind !== "auto_assigned"; });
        notice.hidden = !assigned.length;
        notice.dataset.ids = JSON.stringify(assigned.map(function (n) { return n.id; }));
        document.getElementById("assign-notice-text").textContent = assigned.map(function (n) { return n.text; }).join(" ");
        notesLink.hidden = !alerts.length;
        document.getElementById("notes-count").textContent = alerts.length;
        notesList.replaceChildren();
        alerts.forEach(function (n) {
          const li = el("li", { class: "note note-" + n.kind });
          li.appendChild(el("a", { href: "/inbox/conversations/" + n.conversation_id }, n.text));
          notesList.appendChild(li);
        });
      } catch (e) { /* the queue shows errors */ }
    }
    notesLink.addEventListener("click", async function (ev) {
      ev.preventDefault();
      notesList.hidden = !notesList.hidden;
      if (notesList.hidden) { await api("POST", "/notifications/read", {}); notes(); }
    });
    document.getElementById("assign-notice-ok").addEventListener("click", async function () {
      await api("POST", "/notifications/read", { ids: JSON.parse(notice.dataset.ids || "[]") });
      notes();
    });

    async function load() {
      try {
        const data = await api("GET", "/conversations?view=" + view + "&sort=" + sortBox.value);
        const cap = document.getElementById("capacity");
        cap.textContent = "capacity " + data.capacity.held + "/" + data.capacity.limit;
        cap.classList.toggle("full", data.capacity.held >= data.capacity.limit);
        body.replaceChildren();
        if (!data.conversations.length) {
          const hints = {
            queue: "No open conversations. New ones appear here live when the bot hands a customer over.",
            unassigned: "Nothing waiting for an agent. Conversations the bot hands over appear here live.",
            mine: "You hold no conversations. Claim one from Open or Unassigned.",
            all: "No conversations yet.",
            resolved: "No resolved conversations yet.",
          };
          const row = el("tr"); row.appendChild(el("td", { colspan: "9", class: "muted empty-state" }, hints[view] || "Nothing here."));
          body.appendChild(row);
        }
        data.conversations.forEach(function (c) {
          const row = el("tr", { "data-id": c.id, class: "queue-row prio-" + (c.priority >= 50 ? "high" : c.priority >= 30 ? "mid" : "low") });
          const name = el("td"); name.appendChild(el("a", { href: "/inbox/conversations/" + c.id }, c.customer_name));
          name.appendChild(el("span", { class: "muted small" }, " · " + c.channel));
          (c.other_open || []).forEach(function (other) {
            name.appendChild(el("br"));
            name.appendChild(el("a", { href: "/inbox/conversations/" + other, class: "small other-open" }, "other open conversation #" + other));
          });
          row.appendChild(name);
          row.appendChild(el("td", {}, (c.reason || "–").replace(/_/g, " ")));
          row.appendChild(el("td", {}, sentimentLabel(c.sentiment)));
          row.appendChild(el("td", {}, c.value_tier || "–"));
          row.appendChild(el("td", {}, c.churn_risk || "–"));
          row.appendChild(el("td", {}, waited(c.waiting_seconds)));
          row.appendChild(el("td", { class: "sla sla-" + (c.sla_state || "none") }, c.status === "resolved" ? "–" : slaText(c.sla_state, c.sla_due_at)));
          row.appendChild(el("td", {}, c.status + (c.assigned_agent_id ? (String(c.assigned_agent_id) === inbox.dataset.agentId ? " (me)" : "") : "")));
          const act = el("td");
          if (c.status === "waiting" && !c.assigned_agent_id) {
            const button = el("button", { type: "button", class: "claim" }, "Claim");
            button.addEventListener("click", async function () {
              try { await api("POST", "/conversations/" + c.id + "/claim"); location.href = "/inbox/conversations/" + c.id; }
              catch (e) { showError(errorBox, e.message); load(); }
            });
            act.appendChild(button);
          }
          row.appendChild(act);
          body.appendChild(row);
        });
        showError(errorBox, "");
      } catch (e) { showError(errorBox, e.message); }
    }

    document.querySelectorAll(".tab").forEach(function (tab) {
      tab.addEventListener("click", function () {
        document.querySelectorAll(".tab").forEach(function (t) { t.classList.remove("active"); });
        tab.classList.add("active");
        view = tab.dataset.view;
        load();
      });
    });
    sortBox.addEventListener("change", load);
    load();
    notes();
    listen(function () { load(); notes(); }, document.getElementById("live-state"));
    setInterval(function () { load(); notes(); }, 30000); // waiting times tick on
  }

  // ---- one conversation ----------------------------------------------------------------
  const page = document.getElementById("conversation");
  if (page) {
    const id = page.dataset.id;
    const me = page.dataset.agentId;
    const history = document.getElementById("history");
    const panel = document.getElementById("customer-panel");
    const errorBox = document.getElementById("conv-error");
    const assign = document.getElementById("assign-select");

    function renderPanel(c) {
      panel.replaceChildren();
      const title = el("h2"); title.appendChild(el("a", { href: "/customers/" + c.id }, c.name));
      panel.appendChild(title);
      const facts = el("dl", { class: "facts" });
      [["Email", c.email], ["Phone", c.phone], ["Marketing", c.marketing_consent ? "consents" : "no consent"],
       ["Segment", c.segment], ["CLV", c.clv], ["Churn risk", c.churn_risk && (c.churn_risk + (c.churn_probability !== null ? " (" + Math.round(100 * c.churn_probability) + " %)" : ""))],
       ["Orders", c.order_count + " · " + c.total_spent],
       ["CSAT", c.satisfaction.csat_count ? c.satisfaction.csat_last + " last, " + c.satisfaction.csat_avg.toFixed(1) + " average of " + c.satisfaction.csat_count : null],
       ["NPS", c.satisfaction.nps_last !== null ? c.satisfaction.nps_last + " (" + c.satisfaction.nps_category + ")" : null]].forEach(function ([k, v]) {
        facts.appendChild(el("dt", {}, k)); facts.appendChild(el("dd", {}, v || "–"));
      });
      panel.appendChild(facts);
      if (c.churn_reasons.length) {
        panel.appendChild(el("h3", {}, "Why at risk"));
        const ul = el("ul"); c.churn_reasons.forEach(function (r) { ul.appendChild(el("li", {}, r)); }); panel.appendChild(ul);
      }
      panel.appendChild(el("h3", {}, "Recent orders"));
      const orders = el("ul", { class: "orders" });
      c.orders.forEach(function (o) { orders.appendChild(el("li", {}, o.ref + " · " + o.date + " · " + o.status + " · " + o.total)); });
      if (!c.orders.length) orders.appendChild(el("li", { class: "muted" }, "none"));
      panel.appendChild(orders);
      panel.appendChild(el("h3", {}, "Past conversations"));
      const past = el("ul");
      c.conversations.forEach(function (p) {
        const li = el("li"); li.appendChild(el("a", { href: "/inbox/conversations/" + p.id }, "#" + p.id));
        li.appendChild(document.createTextNode(" " + p.channel + " · " + p.status + (p.reason ? " · " + p.reason : "")));
        past.appendChild(li);
      });
      if (!c.conversations.length) past.appendChild(el("li", { class: "muted" }, "none"));
      panel.appendChild(past);
      panel.appendChild(el("h3", {}, "Surveys"));
      const surveys = el("ul");
      c.surveys.forEach(function (s) { surveys.appendChild(el("li", {}, s.kind.toUpperCase() + " " + (s.score === null ? "–" : s.score) + " (" + s.status + ")" + (s.comment ? ": \u201c" + s.comment + "\u201d" : ""))); });
      if (!c.surveys.length) surveys.appendChild(el("li", { class: "muted" }, "none"));
      panel.appendChild(surveys);
    }

    function renderMessage(m) {
      const row = el("div", { class: "hmsg hmsg-" + m.sender + (m.private && m.sender !== "system" ? " hmsg-note" : ""), "data-id": m.id });
      const meta = el("div", { class: "hmeta" }, (m.private ? "private note · " : "") + (m.author || m.sender) + " · " + new Date(m.created_at).toLocaleString());
      if (m.intent) {
        meta.appendChild(el("span", { class: "nlu" }, " · " + (m.corrected_intent ? m.intent + " → " + m.corrected_intent + " (corrected)" : m.intent + " " + (m.intent_confidence || 0).toFixed(2)) + " · " + (m.sentiment || "") + " " + (m.sentiment_score || 0).toFixed(2)));
        (m.entities || []).forEach(function (e) {
          meta.appendChild(el("span", { class: "entity entity-" + e.type, title: e.type }, e.type + ": " + e.text));
        });
        if (m.sender === "customer" && intents.length) {
          const pick = el("select", { class: "relabel", "aria-label": "Correct the intent", "data-message": m.id });
          pick.appendChild(el("option", { value: "" }, "correct intent…"));
          intents.forEach(function (i) { pick.appendChild(el("option", { value: i }, i)); });
          pick.addEventListener("change", async function () {
            if (!pick.value) return;
            try { await api("POST", "/messages/" + m.id + "/intent", { intent: pick.value }); await load(); }
            catch (e) { showError(errorBox, e.message); }
          });
          meta.appendChild(pick);
        }
      }
      if (m.delivery_status && m.direction === "outbound" && !m.private) meta.appendChild(el("span", { class: "muted" }, " · " + m.delivery_status));
      row.appendChild(meta);
      row.appendChild(el("div", { class: "htext" }, m.text));
      return row;
    }

    let intents = [];
    api("GET", "/intents").then(function (d) { intents = d.intents; load(); }).catch(function () {});

    async function load() {
      try {
        const data = await api("GET", "/conversations/" + id);
        const c = data.conversation;
        document.getElementById("conv-title").textContent = data.customer.name + " · " + c.channel +
          (c.language ? " · writes in " + languageName(c.language) : "");
        document.getElementById("conv-status").textContent = c.status + (c.reason ? " · " + c.reason.replace(/_/g, " ") : "") +
          (c.team ? " · team " + c.team.name : "") +
          (c.sla && c.sla.state && c.status !== "resolved" ? " · SLA " + slaText(c.sla.state, c.sla.first_response_hit === null ? c.sla.first_response_due_at : c.sla.resolution_due_at) : "") +
          (c.campaign ? " · reply to campaign “" + c.campaign.name + "”" : "");
        const others = document.getElementById("other-open");
        others.replaceChildren();
        (c.other_open || []).forEach(function (other, i) {
          if (i === 0) others.appendChild(document.createTextNode("This customer has another open conversation: "));
          else others.appendChild(document.createTextNode(", "));
          others.appendChild(el("a", { href: "/inbox/conversations/" + other, class: "other-open" }, "#" + other));
        });
        others.hidden = !(c.other_open || []).length;
        document.getElementById("claim-btn").hidden = !(c.status === "waiting" && !c.assigned_agent_id);
        document.getElementById("resolve-btn").hidden = c.status === "resolved";
        document.getElementById("reopen-btn").hidden = c.status !== "resolved";
        history.replaceChildren.apply(history, data.messages.map(renderMessage));
        history.scrollTop = history.scrollHeight;
        renderPanel(data.customer);
        if (assign.dataset.current !== String(c.assigned_agent_id)) {
          assign.dataset.current = String(c.assigned_agent_id);
          Array.from(assign.options).forEach(function (o) { o.selected = o.value === String(c.assigned_agent_id); });
        }
        showError(errorBox, "");
      } catch (e) { showError(errorBox, e.message); }
    }

    async function act(path, body) {
      try { await api("POST", "/conversations/" + id + path, body); await load(); }
      catch (e) { showError(errorBox, e.message); }
    }

    document.getElementById("claim-btn").addEventListener("click", function () { act("/claim"); });
    document.getElementById("resolve-btn").addEventListener("click", function () { act("/resolve"); });
    document.getElementById("reopen-btn").addEventListener("click", function () { act("/reopen"); });
    fetch("/api/v1/canned-responses", { credentials: "same-origin" }).then(function (res) { return res.ok ? res.json() : { canned_responses: [] }; })
      .then(function (data) {
        const canned = document.getElementById("canned");
        data.canned_responses.forEach(function (c) { canned.appendChild(el("option", { value: c.text, title: c.text }, c.title)); });
      }).catch(function () {});
    document.getElementById("canned").addEventListener("change", function (ev) {
      if (ev.target.value) { document.getElementById("reply-text").value = ev.target.value; ev.target.value = ""; }
    });
    document.getElementById("reply-form").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const box = document.getElementById("reply-text");
      const text = box.value.trim();
      if (!text) return;
      const isPrivate = document.getElementById("reply-private").checked;
      try {
        await api("POST", "/conversations/" + id + "/messages", { text: text, private: isPrivate });
        box.value = "";
        document.getElementById("reply-private").checked = false;
        await load();
      } catch (e) { showError(errorBox, e.message); }
    });
    api("GET", "/agents").then(function (data) {
      assign.appendChild(el("option", { value: "" }, "Assign to…"));
      data.agents.forEach(function (a) { assign.appendChild(el("option", { value: a.id }, a.name + (String(a.id) === me ? " (me)" : ""))); });
    }).catch(function () {});
    assign.addEventListener("change", function () { if (assign.value) act("/assign", { agent_id: Number(assign.value) }); });
    load();
    listen(function (ids) { if (ids.indexOf(Number(id)) !== -1) load(); }, null);
  }
})();
