// careloop read-only transcript: one conversation with contact details masked (marketers).
(function () {
  "use strict";
  const root = document.getElementById("transcript");
  const log = document.getElementById("transcript-log");

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  fetch("/api/v1/analytics/conversations/" + root.dataset.id + "/transcript").then(async function (res) {
    const body = await res.json();
    if (!res.ok) throw new Error(body.error ? body.error.message : "Could not load the conversation");
    const c = body.conversation;
    document.getElementById("transcript-title").textContent = "Conversation #" + c.id + " · " + body.customer;
    document.getElementById("transcript-meta").textContent = c.channel + " · " + c.status +
      (c.escalation_reason ? " · " + c.escalation_reason.replace(/_/g, " ") : "") +
      (c.started_at ? " · " + new Date(c.started_at).toLocaleString() : "");
    body.messages.forEach(function (m) {
      const row = el("div", "msg msg-" + m.sender);
      row.appendChild(el("div", "bubble", m.text));
      log.appendChild(row);
    });
    if (!body.messages.length) log.appendChild(el("p", "empty-state", "No messages."));
    root.dataset.loaded = String(body.messages.length);
  }).catch(function (e) {
    const box = document.getElementById("transcript-error");
    box.textContent = e.message;
    box.hidden = false;
  });
})();
