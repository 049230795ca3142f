// careloop campaigns page: the list, an audience builder with live preview, message preview.
(function () {
  "use strict";
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const $ = (id) => document.getElementById(id);
  let fields = {};
  let shopTimezone = "UTC";

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

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function showError(message) {
    const box = $("campaign-error");
    box.textContent = message || "";
    box.hidden = !message;
  }

  function addRule(field, op, value) {
    const row = el("div", { class: "rule" });
    const fieldSel = el("select", { class: "rule-field" });
    Object.keys(fields).forEach((name) => fieldSel.appendChild(el("option", { value: name }, name)));
    const opSel = el("select", { class: "rule-op" });
    const input = el("input", { class: "rule-value", placeholder: "value (lists: a, b)" });
    const remove = el("button", { type: "button" }, "×");
    function ops() {
      opSel.replaceChildren();
      fields[fieldSel.value].ops.forEach((o) => opSel.appendChild(el("option", { value: o }, o)));
      const choices = fields[fieldSel.value].choices;
      input.title = choices.length ? "one or more of: " + choices.join(", ") : fields[fieldSel.value].description;
    }
    fieldSel.addEventListener("change", ops);
    remove.addEventListener("click", () => row.remove());
    if (field) fieldSel.value = field;
    ops();
    if (op) opSel.value = op;
    if (value !== undefined) input.value = value;
    row.append(fieldSel, opSel, input, remove);
    $("rules").appendChild(row);
  }

  function parseValue(field, op, raw) {
    const kind = fields[field].ops;
    if (op === "between") return raw.split(",").map((v) => Number(v.trim()));
    if (kind.includes("gte")) return Number(raw);
    if (op === "in" || op === "not_in" || op.startsWith("contains")) return raw.split(",").map((v) => v.trim()).filter(Boolean);
    if (field === "marketing_consent") return raw.trim() !== "false";
    return raw.trim();
  }

  function audience() {
    const rules = Array.from(document.querySelectorAll("#rules .rule")).map((row) => {
      const field = row.querySelector(".rule-field").value;
      const op = row.querySelector(".rule-op").value;
      return { field: field, op: op, value: parseValue(field, op, row.querySelector(".rule-value").value) };
    });
    const out = {};
    out[$("c-combine").value] = rules;
    return out;
  }

  function scheduleKind() {
    return $("c-kind").value === "once-at" ? "once" : $("c-kind").value;
  }

  function schedule() {
    const kind = $("c-kind").value;
    if (kind === "once-at") return $("c-at").value ? { at: $("c-at").value, timezone: shopTimezone } : {};
    if (kind === "recurring") return { cron: $("c-cron").value, timezone: $("c-tz").value };
    if (kind === "triggered") {
      const s = { trigger: $("c-trigger").value };
      if (s.trigger === "days_after_last_order") s.days = Number($("c-trigger-days").value);
      return s;
    }
    return {};
  }

  function campaign() {
    return {
      name: $("c-name").value,
      goal: $("c-goal").value || null,
      channel: $("c-channel").value,
      audience: audience(),
      template: $("c-template").value,
      offer_code: $("c-code").value || null,
      unique_codes: $("c-unique").checked,
      offer_value: $("c-offer-value").value || "0",
      message_cost: $("c-cost").value || "0",
      control_percent: Number($("c-control").value),
      attribution: $("c-attribution").value,
      attribution_days: Number($("c-days").value),
      schedule_kind: scheduleKind(),
      schedule: schedule(),
    };
  }

  async function previewAudience() {
    showError("");
    try {
      const data = await api("POST", "/api/v1/campaigns/preview/audience", { audience: audience() });
      $("audience-size").textContent = data.size === 0
        ? "No customer matches these conditions: remove one or widen its values, then preview again."
        : data.size + " customers match";
      $("audience-size").dataset.size = String(data.size);
      const table = $("audience-sample");
      const tbody = table.querySelector("tbody");
      tbody.replaceChildren();
      data.sample.forEach((c) => {
        const row = el("tr");
        [c.name, c.email, c.segment, c.clv, c.churn_risk].forEach((v) => row.appendChild(el("td", {}, v || "–")));
        tbody.appendChild(row);
      });
      table.hidden = data.sample.length === 0;
    } catch (err) { showError(err.message); }
  }

  async function previewMessage() {
    showError("");
    try {
      const data = await api("POST", "/api/v1/campaigns/preview/message", campaign());
      $("message-preview").textContent = data.text;
      $("message-preview").hidden = false;
    } catch (err) { showError(err.message); }
  }

  async function save(event) {
    event.preventDefault();
    showError("");
    if ($("c-kind").value === "once-at" && !$("c-at").value) { showError("Choose the date and time to send it."); return; }
    try {
      const created = await api("POST", "/api/v1/campaigns", campaign());
      window.location.href = "/campaigns/" + created.id;
    } catch (err) { showError(err.message); }
  }

  async function list() {
    const data = await api("GET", "/api/v1/campaigns");
    const tbody = $("campaign-list").querySelector("tbody");
    tbody.replaceChildren();
    $("campaign-list").hidden = data.campaigns.length === 0;
    $("campaign-empty").hidden = data.campaigns.length !== 0;
    data.campaigns.forEach((c) => {
      const row = el("tr");
      const name = el("td");
      name.appendChild(el("a", { href: "/campaigns/" + c.id }, c.name));
      row.appendChild(name);
      [c.status, c.channel, c.schedule_kind].forEach((v) => row.appendChild(el("td", {}, v)));
      tbody.appendChild(row);
    });
  }

  function channels(meta) {
    const select = $("c-channel");
    select.replaceChildren();
    meta.channels.forEach((c) => {
      const option = el("option", { value: c.value }, c.label + (c.configured ? "" : " (not configured)"));
      select.appendChild(option);
    });
    select.value = meta.default_channel;
    const note = () => {
      const chosen = meta.channels.find((c) => c.value === select.value);
      let text = "";
      if (chosen && !chosen.configured) text = "Telegram is not configured (CARELOOP_TELEGRAM_TOKEN): its messages would wait in the outbox.";
      else if (select.value === "web") text = "Web-chat offers are delivered when the customer next opens the chat; until then the report shows them as waiting for the customer.";
      $("channel-note").textContent = text;
      $("channel-note").hidden = !text;
    };
    select.addEventListener("change", note);
    note();
  }

  function showScheduleFields() {
    const kind = $("c-kind").value;
    $("at-row").hidden = kind !== "once-at";
    $("cron-row").hidden = kind !== "recurring";
    $("trigger-row").hidden = kind !== "triggered";
    $("trigger-note").hidden = kind !== "triggered";
    $("trigger-days-row").hidden = kind !== "triggered" || $("c-trigger").value !== "days_after_last_order";
  }

  async function init() {
    const meta = await api("GET", "/api/v1/campaigns/fields");
    fields = meta.fields;
    shopTimezone = meta.shop_timezone;
    $("at-zone").textContent = "shop time (" + shopTimezone + ")";
    $("c-tz").value = shopTimezone;
    channels(meta);
    addRule("churn_risk", "in", "high");
    $("add-rule").addEventListener("click", () => addRule());
    $("preview-audience").addEventListener("click", previewAudience);
    $("preview-message").addEventListener("click", previewMessage);
    $("campaign-form").addEventListener("submit", save);
    $("c-kind").addEventListener("change", showScheduleFields);
    $("c-trigger").addEventListener("change", showScheduleFields);
    showScheduleFields();
    await list();
    $("campaigns").dataset.loaded = "1";
  }

  init().catch((err) => showError(err.message));
})();
