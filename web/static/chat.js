// careloop web chat: the same public API as any integration (/api/v1/chat/...).
(function () {
  "use strict";
  const params = new URLSearchParams(location.search);
  const key = "careloop.session";
  let sessionId = params.get("session") || localStorage.getItem(key);
  if (!sessionId) {
    sessionId = (crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) + Math.random().toString(16).slice(2));
  }
  localStorage.setItem(key, sessionId);
  // A shop page with a logged-in customer passes a signed token (see the README), so the bot
  // may show that customer's orders.
  const customerToken = params.get("customer_token") || null;

  const log = document.getElementById("chat-log");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");
  const errorBox = document.getElementById("chat-error");
  const seen = new Set();
  let lastId = 0;

  // The https:// addresses in a reply of the bot or an agent (a carrier's tracking page) as
  // links; the rest stays plain text.
  const LINK = /https:\/\/[^\s<>"']*[^\s<>"'.,;:!?)\]]/g;
  function withLinks(el, text) {
    let last = 0;
    for (const match of text.matchAll(LINK)) {
      el.appendChild(document.createTextNode(text.slice(last, match.index)));
      const a = document.createElement("a");
      a.href = match[0];
      a.textContent = match[0];
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      el.appendChild(a);
      last = match.index + match[0].length;
    }
    el.appendChild(document.createTextNode(text.slice(last)));
  }

  function render(msg) {
    if (seen.has(msg.id)) return;
    seen.add(msg.id);
    lastId = Math.max(lastId, msg.id);
    const row = document.createElement("div");
    row.className = "msg msg-" + msg.sender;
    row.dataset.id = msg.id;
    if (msg.sender === "agent" && msg.author) {
      const label = document.createElement("div");
      label.className = "msg-author";
      label.textContent = msg.author;
      row.appendChild(label);
    }
    const bubble = document.createElement("div");
    bubble.className = "bubble";
    if (msg.sender === "customer") bubble.textContent = msg.text;
    else withLinks(bubble, msg.text);
    row.appendChild(bubble);
    log.querySelectorAll(".quick-replies").forEach((el) => el.remove());
    if (msg.quick_replies && msg.quick_replies.length) row.appendChild(quickReplyBar(msg.quick_replies));
    if (msg.buttons && msg.buttons.length) {
      // Answer buttons (a survey's scale): the label is shown, the data says what it means.
      const bar = document.createElement("div");
      bar.className = "quick-replies answer-buttons";
      msg.buttons.forEach(function (b) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "quick-reply answer-button";
        button.textContent = b.text;
        button.dataset.data = b.data;
        button.addEventListener("click", function () { bar.remove(); send(b.text, b.data); });
        bar.appendChild(button);
      });
      row.appendChild(bar);
    }
    log.appendChild(row);
    log.scrollTop = log.scrollHeight;
  }

  function showError(text) {
    errorBox.textContent = text;
    errorBox.hidden = !text;
  }

  // The browser's language: the bot answers in it until the visitor's words name one.
  const browserLocale = /^[A-Za-z]{2,8}([-_][A-Za-z0-9]{1,8})*$/.test(navigator.language || "")
    ? navigator.language : null;

  async function send(text, button) {
    const messageId = crypto.randomUUID ? crypto.randomUUID() : String(Date.now());
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const res = await fetch("/api/v1/chat/messages", {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ session_id: sessionId, text: text, message_id: messageId, button: button || null, customer_token: customerToken, locale: browserLocale }),
        });
        const body = await res.json();
        if (res.ok) {
          showError("");
          render(body.message);
          body.replies.forEach(render);
          return;
        }
        if (res.status < 500) { showError(body.error ? body.error.message : "Message rejected"); return; }
      } catch (e) { /* network error: retry below with the same message id */ }
      await new Promise((r) => setTimeout(r, 1000 * (attempt + 1)));
    }
    showError("Could not send your message. Please try again.");
  }

  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    input.value = "";
    send(text);
  });

  function listen() {
    const source = new EventSource("/api/v1/chat/sessions/" + encodeURIComponent(sessionId) + "/events?after=" + lastId);
    source.addEventListener("message", function (ev) { render(JSON.parse(ev.data)); });
  }

  // Buttons that send their label as the visitor's message, and go once one is used.
  function quickReplyBar(labels) {
    const bar = document.createElement("div");
    bar.className = "quick-replies";
    labels.forEach(function (label) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "quick-reply";
      button.textContent = label;
      button.addEventListener("click", function () { bar.remove(); send(label); });
      bar.appendChild(button);
    });
    return bar;
  }

  // A new chat opens with the shop's greeting (shown here only; nothing is stored until the
  // visitor writes), so it never starts as an empty box.
  function greet() {
    return fetch("/api/v1/chat/welcome" + (browserLocale ? "?locale=" + encodeURIComponent(browserLocale) : ""))
      .then((r) => r.json())
      .then(function (w) {
        if (log.querySelector(".msg")) return;
        const row = document.createElement("div");
        row.className = "msg msg-greeting";
        const bubble = document.createElement("div");
        bubble.className = "bubble";
        bubble.textContent = w.greeting;
        row.appendChild(bubble);
        if (w.quick_replies && w.quick_replies.length) row.appendChild(quickReplyBar(w.quick_replies));
        log.appendChild(row);
      })
      .catch(function () { /* the chat still works without its greeting */ });
  }

  fetch("/api/v1/chat/sessions/" + encodeURIComponent(sessionId) + "/messages")
    .then((r) => r.json())
    .then((body) => {
      (body.messages || []).forEach(render);
      if (!(body.messages || []).length) return greet();
      return undefined;
    })
    .finally(listen);
})();
