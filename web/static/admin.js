// careloop admin console: users, teams, SLA and hours, canned responses, the response
// book and the audit log, all on the JSON API (/api/v1/admin/..., /api/v1/teams, ...).
(function () {
  "use strict";
  const root = document.getElementById("admin");
  if (!root) return;
  const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";
  const me = root.dataset.me;
  const errorBox = document.getElementById("admin-error");
  const noticeBox = document.getElementById("admin-notice");

  async function api(method, path, body) {
    const res = await fetch("/api/v1" + path, {
      method: method,
      headers: Object.assign({ "X-CSRF-Token": csrf }, body !== undefined ? { "Content-Type": "application/json" } : {}),
      body: body !== undefined ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
    });
    if (res.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); }
    const data = res.status === 204 ? {} : await res.json().catch(function () { return {}; });
    if (!res.ok) { throw new Error(data.error ? data.error.message : "Request failed (" + res.status + ")"); }
    return data;
  }

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    Object.entries(attrs || {}).forEach(function ([k, v]) { if (v !== null && v !== undefined && v !== false) node.setAttribute(k, v === true ? "" : v); });
    if (text !== undefined && text !== null) node.textContent = text;
    return node;
  }

  function button(label, cls, onClick) {
    const b = el("button", { type: "button", class: cls }, label);
    b.addEventListener("click", onClick);
    return b;
  }

  function show(box, message) { box.textContent = message || ""; box.hidden = !message; }
  function fail(e) { show(noticeBox, ""); show(errorBox, e.message || String(e)); }
  function done(message) { show(errorBox, ""); show(noticeBox, message); }

  // Runs an action, reports its outcome, then redraws the page.
  // A failed action redraws too, so that the page shows what is really stored.
  async function act(fn, message, reload) {
    let error = null;
    try { await fn(); } catch (e) { error = e; }
    if (reload) { try { await reload(); } catch (e) { error = error || e; } }
    if (error) fail(error); else done(message);
  }

  function when(iso) {
    if (!iso) return "–";
    const d = new Date(iso);
    return d.toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" }) + " " +
      d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
  }

  function words(text) { return text.split(/[\s,]+/).map(function (s) { return s.trim(); }).filter(Boolean); }

  function labelled(text, input, cls) {
    const label = el("label", { class: cls }); label.append(text + " ", input); return label;
  }

  async function teamList() { return (await api("GET", "/teams")).teams; }

  // ---- users ---------------------------------------------------------------------------
  async function usersPage() {
    const tbody = document.querySelector("#users-table tbody");
    const result = document.getElementById("invite-result");
    let teams = [];

    function secret(text, password) {
      result.replaceChildren(document.createTextNode(text + " "), el("code", { id: "one-time-password" }, password),
        document.createTextNode(" (shown once; they choose their own password at the first sign-in)"));
      result.hidden = false;
    }

    function teamSelect(user) {
      const select = el("select", { class: "team-select", "aria-label": "Team of " + user.email });
      select.appendChild(el("option", { value: "" }, "no team"));
      teams.forEach(function (t) { select.appendChild(el("option", { value: t.id, selected: t.id === user.team_id }, t.name)); });
      select.disabled = user.role === "marketer";
      select.title = user.role === "marketer" ? "Only agents and admins belong to teams" : "";
      select.addEventListener("change", function () {
        const target = select.value;
        act(function () {
          return target
            ? api("POST", "/teams/" + target + "/members", { user_id: user.id })
            : api("DELETE", "/teams/" + user.team_id + "/members/" + user.id);
        }, user.email + (target ? " joined " + select.selectedOptions[0].textContent : " left the team"), load);
      });
      return select;
    }

    function row(u) {
      const tr = el("tr", { "data-id": u.id, "data-email": u.email, class: u.is_active ? "" : "disabled" });
      const who = el("td"); who.append(el("strong", {}, u.display_name), el("br"), el("span", { class: "muted small" }, u.email));
      tr.appendChild(who);
      const role = el("select", { class: "role-select", "aria-label": "Role of " + u.email });
      ["agent", "marketer", "admin"].forEach(function (r) { role.appendChild(el("option", { value: r, selected: r === u.role }, r)); });
      role.addEventListener("change", function () {
        act(function () { return api("PATCH", "/admin/users/" + u.id, { role: role.value }); }, u.email + " is now " + role.value, load);
      });
      tr.appendChild(el("td")).appendChild(role);
      const capCell = el("td", { class: "row-actions" });
      const cap = el("input", { type: "number", min: 1, max: 1000, value: u.max_concurrent, class: "capacity-input short", "aria-label": "Capacity of " + u.email });
      capCell.append(cap, button("Save", "secondary capacity-save", function () {
        act(function () { return api("PATCH", "/admin/users/" + u.id, { max_concurrent: Number(cap.value) }); },
          u.email + " takes up to " + cap.value + " conversations", load);
      }));
      tr.appendChild(capCell);
      tr.appendChild(el("td")).appendChild(teamSelect(u));
      const status = el("td", { class: "status" });
      status.append(el("span", { class: "badge" }, u.is_active ? (u.password_change_required ? "must set password" : "active") : "disabled"),
        el("br"), el("span", { class: "muted small" }, "seen " + when(u.last_seen_at)));
      tr.appendChild(status);
      const actions = el("td", { class: "row-actions" });
      if (String(u.id) !== me) {
        actions.appendChild(u.is_active
          ? button("Disable", "danger toggle-active", function () {
            if (!confirm("Disable " + u.email + "? Their sessions end at once.")) return;
            act(function () { return api("POST", "/admin/users/" + u.id + "/disable"); }, u.email + " is disabled; their sessions ended", load);
          })
          : button("Enable", "toggle-active", function () {
            act(function () { return api("POST", "/admin/users/" + u.id + "/enable"); }, u.email + " can sign in again", load);
          }));
      }
      actions.appendChild(button("Reset password", "secondary reset-password", async function () {
        if (!confirm("Reset the password of " + u.email + "? Their sessions end.")) return;
        try {
          const data = await api("POST", "/admin/users/" + u.id + "/reset-password", {});
          done("Password of " + u.email + " reset; their sessions ended.");
          secret("One-time password for " + u.email + ":", data.one_time_password);
          await load();
        } catch (e) { fail(e); }
      }));
      tr.appendChild(actions);
      return tr;
    }

    async function load() {
      const [users, t] = await Promise.all([api("GET", "/admin/users"), teamList()]);
      teams = t;
      tbody.replaceChildren.apply(tbody, users.users.map(row));
      const invite = document.getElementById("invite-team");
      invite.replaceChildren(el("option", { value: "" }, "no team"));
      teams.forEach(function (team) { invite.appendChild(el("option", { value: team.id }, team.name)); });
    }

    document.getElementById("invite-form").addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const email = document.getElementById("invite-email").value.trim();
      const body = {
        email: email,
        role: document.getElementById("invite-role").value,
        max_concurrent: Number(document.getElementById("invite-capacity").value || 5),
      };
      const name = document.getElementById("invite-name").value.trim();
      if (name) body.display_name = name;
      const team = document.getElementById("invite-team").value;
      if (team) body.team_id = Number(team);
      try {
        const data = await api("POST", "/admin/users/invite", body);
        done(data.user.email + " invited as " + data.user.role + ".");
        secret("One-time password for " + data.user.email + ":", data.one_time_password);
        ev.target.reset();
        await load();
      } catch (e) { fail(e); }
    });
    await load();
  }

  // ---- teams ---------------------------------------------------------------------------
  async function teamsPage() {
    const list = document.getElementById("teams-list");
    api("GET", "/inbox/intents").then(function (data) {
      const dl = document.getElementById("intent-list");
      data.intents.forEach(function (i) { dl.appendChild(el("option", { value: i })); });
    }).catch(function () {});

    function card(team, users) {
      const box = el("div", { class: "admin-card team-card", "data-id": team.id, "data-name": team.name });
      box.appendChild(el("h3", {}, team.name));
      const intents = el("input", { type: "text", class: "team-intents grow", value: team.intents.join(", "), list: "intent-list", "aria-label": "Intents of " + team.name });
      const form = el("div", { class: "admin-form" });
      form.append(labelled("Intents routed here", intents, "grow"), button("Save intents", "save-intents", function () {
        act(function () { return api("PATCH", "/teams/" + team.id, { intents: words(intents.value) }); }, team.name + ": intents saved", load);
      }));
      box.appendChild(form);
      box.appendChild(el("p", { class: "muted small" }, team.intents.length ? "Routes: " + team.intents.join(", ") : "No intents: this team gets no escalations by intent."));
      box.appendChild(el("h4", {}, "Members"));
      const ul = el("ul", { class: "members" });
      if (!team.members.length) ul.appendChild(el("li", { class: "muted" }, "No members yet."));
      team.members.forEach(function (m) {
        const li = el("li", { "data-user": m.id }, m.display_name + " (" + m.email + ", capacity " + m.max_concurrent + ") ");
        li.appendChild(button("remove", "link remove-member", function () {
          act(function () { return api("DELETE", "/teams/" + team.id + "/members/" + m.id); }, m.email + " left " + team.name, load);
        }));
        ul.appendChild(li);
      });
      box.appendChild(ul);
      const add = el("select", { class: "add-member", "aria-label": "Add a member to " + team.name });
      add.appendChild(el("option", { value: "" }, "Add a member…"));
      users.filter(function (u) { return u.is_active && u.role !== "marketer" && u.team_id !== team.id; })
        .forEach(function (u) { add.appendChild(el("option", { value: u.id }, u.display_name + " (" + u.email + ")" + (u.team_id ? " – moves from another team" : ""))); });
      add.addEventListener("change", function () {
        if (!add.value) return;
        act(function () { return api("POST", "/teams/" + team.id + "/members", { user_id: Number(add.value) }); }, "Member added to " + team.name, load);
      });
      const foot = el("div", { class: "row-actions" });
      foot.append(add, button("Delete team", "danger delete-team", function () {
        if (!confirm("Delete the team " + team.name + "? Its members stay, without a team.")) return;
        act(function () { return api("DELETE", "/teams/" + team.id); }, team.name + " deleted", load);
      }));
      box.appendChild(foot);
      return box;
    }

    async function load() {
      const [teams, users] = await Promise.all([teamList(), api("GET", "/admin/users")]);
      list.replaceChildren.apply(list, teams.map(function (t) { return card(t, users.users); }));
      document.getElementById("teams-empty").hidden = teams.length > 0;
    }

    document.getElementById("team-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      const name = document.getElementById("team-name").value.trim();
      act(async function () {
        await api("POST", "/teams", { name: name, intents: words(document.getElementById("team-intents").value) });
        ev.target.reset();
      }, "Team " + name + " created", load);
    });
    await load();
  }

  // ---- SLA policies and business hours -----------------------------------------------------
  const POLICY_FIELDS = [
    ["first_response_minutes", "First response (min)", 60],
    ["resolution_minutes", "Resolution (min)", 480],
    ["urgent_priority", "Urgent from priority", 60],
    ["urgent_factor", "Urgent factor", 0.5],
    ["at_risk_percent", "At risk at (%)", 80],
  ];

  function policyInputs(form, policy) {
    POLICY_FIELDS.forEach(function ([key, label, fallback]) {
      const input = el("input", { type: "number", name: key, class: "short", step: key === "urgent_factor" ? "0.05" : "1", value: policy ? policy[key] : fallback });
      form.appendChild(labelled(label, input));
    });
    const only = el("input", { type: "checkbox", name: "business_hours_only" });
    only.checked = policy ? policy.business_hours_only : true;
    form.appendChild(labelled("only in business hours", only, "check"));
  }

  function policyBody(form) {
    const body = {};
    POLICY_FIELDS.forEach(function ([key]) { body[key] = Number(form.elements[key].value); });
    body.business_hours_only = form.elements.business_hours_only.checked;
    return body;
  }

  async function slaPage() {
    const teamsBox = document.getElementById("sla-teams");
    const defaultForm = document.getElementById("policy-default");

    async function load() {
      const [teams, policies] = await Promise.all([teamList(), api("GET", "/sla-policies")]);
      const byTeam = {};
      policies.policies.forEach(function (p) { byTeam[p.team_id === null ? "" : p.team_id] = p; });
      defaultForm.replaceChildren();
      policyInputs(defaultForm, byTeam[""]);
      defaultForm.appendChild(el("button", { type: "submit", class: "save-policy" }, "Save default policy"));
      teamsBox.replaceChildren.apply(teamsBox, teams.map(function (t) { return teamCard(t, byTeam[t.id]); }));
      document.getElementById("sla-no-teams").hidden = teams.length > 0;
    }

    function teamCard(team, policy) {
      const box = el("div", { class: "admin-card sla-card", "data-id": team.id, "data-name": team.name });
      box.appendChild(el("h3", {}, team.name));
      const hours = el("form", { class: "admin-form hours-form" });
      hours.append(
        el("h4", {}, "Business hours and holidays"),
        labelled("Hours", el("input", { type: "text", name: "business_hours", value: team.business_hours, placeholder: "mon-fri 09:00-18:00, sat 10:00-14:00 (empty: always open)", class: "grow" }), "grow"),
        labelled("Time zone", el("input", { type: "text", name: "timezone", value: team.timezone, class: "short-text" })),
        labelled("Holidays (YYYY-MM-DD)", el("input", { type: "text", name: "holidays", value: team.holidays.join(", "), placeholder: "2026-12-25, 2026-12-26", class: "grow" }), "grow"),
        el("button", { type: "submit", class: "save-hours" }, "Save hours"));
      hours.addEventListener("submit", function (ev) {
        ev.preventDefault();
        act(function () {
          return api("PATCH", "/teams/" + team.id, {
            business_hours: hours.elements.business_hours.value.trim(),
            timezone: hours.elements.timezone.value.trim() || "UTC",
            holidays: words(hours.elements.holidays.value),
          });
        }, team.name + ": hours saved", load);
      });
      const pol = el("form", { class: "admin-form policy-form", "data-team": team.id });
      pol.appendChild(el("h4", {}, policy ? "SLA policy" : "SLA policy (none yet: the default applies)"));
      policyInputs(pol, policy);
      pol.appendChild(el("button", { type: "submit", class: "save-policy" }, "Save policy"));
      pol.addEventListener("submit", function (ev) {
        ev.preventDefault();
        act(function () { return api("PUT", "/teams/" + team.id + "/sla-policy", policyBody(pol)); }, team.name + ": SLA policy saved", load);
      });
      box.append(hours, pol);
      return box;
    }

    defaultForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      act(function () { return api("PUT", "/sla-policies/default", policyBody(defaultForm)); }, "Default SLA policy saved", load);
    });
    await load();
  }

  // ---- canned responses ------------------------------------------------------------------
  async function cannedPage() {
    const tbody = document.querySelector("#canned-table tbody");

    function row(c) {
      const tr = el("tr", { "data-id": c.id, "data-shortcut": c.shortcut });
      const shortcut = el("input", { type: "text", value: c.shortcut, class: "short-text canned-shortcut", "aria-label": "Shortcut" });
      const title = el("input", { type: "text", value: c.title, class: "canned-title", "aria-label": "Title" });
      const text = el("textarea", { rows: 2, class: "canned-body", "aria-label": "Text", maxlength: 4000 }); text.value = c.text;
      [shortcut, title, text].forEach(function (input) { tr.appendChild(el("td")).appendChild(input); });
      const actions = el("td", { class: "row-actions" });
      actions.append(button("Save", "canned-save", function () {
        act(function () { return api("PATCH", "/admin/canned-responses/" + c.id, { shortcut: shortcut.value, title: title.value, text: text.value }); }, "Saved " + title.value, load);
      }), button("Delete", "danger canned-delete", function () {
        if (!confirm("Delete the canned response " + c.title + "?")) return;
        act(function () { return api("DELETE", "/admin/canned-responses/" + c.id); }, "Deleted " + c.title, load);
      }));
      tr.appendChild(actions);
      return tr;
    }

    async function load() {
      const data = await api("GET", "/canned-responses");
      tbody.replaceChildren.apply(tbody, data.canned_responses.map(row));
      document.getElementById("canned-empty").hidden = data.canned_responses.length > 0;
    }

    document.getElementById("canned-form").addEventListener("submit", function (ev) {
      ev.preventDefault();
      const title = document.getElementById("canned-title").value;
      act(async function () {
        await api("POST", "/admin/canned-responses", {
          shortcut: document.getElementById("canned-shortcut").value,
          title: title,
          text: document.getElementById("canned-text").value,
        });
        ev.target.reset();
      }, "Added " + title, load);
    });
    await load();
  }

  // ---- the response book -----------------------------------------------------------------
  async function responsesPage() {
    const source = document.getElementById("book-source");
    const status = document.getElementById("book-status");
    const check = document.getElementById("book-check");
    const previewTable = document.getElementById("book-preview");
    const versionsBody = document.querySelector("#book-versions tbody");

    async function load() {
      const [current, versions] = await Promise.all([api("GET", "/admin/response-book"), api("GET", "/admin/response-book/versions")]);
      source.value = current.source;
      status.textContent = current.version
        ? "Version " + current.version + " is active, published by " + current.created_by + " on " + when(current.created_at) + (current.comment ? " (" + current.comment + ")" : "") + "."
        : "The bot answers from the shipped file (no version published yet).";
      if (current.in_use !== current.version) status.textContent += " This server still uses version " + current.in_use + ": use Reload.";
      status.dataset.version = current.version;
      versionsBody.replaceChildren.apply(versionsBody, versions.versions.map(function (v) {
        const tr = el("tr", { "data-version": v.version });
        tr.append(el("td", {}, String(v.version) + (v.version === current.version ? " (active)" : "")), el("td", {}, when(v.created_at)), el("td", {}, v.created_by), el("td", {}, v.comment || "–"));
        const actions = el("td", { class: "row-actions" });
        actions.append(button("View", "secondary view-version", async function () {
          try { source.value = (await api("GET", "/admin/response-book/versions/" + v.version)).source; done("Version " + v.version + " is in the editor (not published)."); }
          catch (e) { fail(e); }
        }));
        if (v.version !== current.version) {
          actions.appendChild(button("Restore", "restore-version", function () {
            act(function () { return api("POST", "/admin/response-book/versions/" + v.version + "/restore"); }, "Version " + v.version + " restored as a new version; the bot uses it now", load);
          }));
        }
        tr.appendChild(actions);
        return tr;
      }));
      document.getElementById("versions-empty").hidden = versions.versions.length > 0;
    }

    function drawPreview(data) {
      check.hidden = false;
      check.className = data.ok ? "ok" : "preview-error";
      check.textContent = data.ok ? "The text is fine: " + data.variants.length + " answers checked." : (data.error || "Some answers cannot be rendered (marked below).");
      const tbody = previewTable.querySelector("tbody");
      tbody.replaceChildren.apply(tbody, data.variants.map(function (v) {
        const tr = el("tr", { "data-key": v.key, class: v.error ? "preview-error" : "" });
        tr.append(el("td", {}, v.key + (v.index ? " #" + (v.index + 1) : "")), el("td", { class: "muted small" }, v.requires.join(", ") || "–"));
        const cell = el("td", { class: "preview-text" }, v.error ? "cannot render: " + v.error : v.text);
        if (v.buttons.length) {
          const buttons = el("div", { class: "quick-replies" });
          v.buttons.forEach(function (b) { buttons.appendChild(el("span", { class: "quick-reply" }, b)); });
          cell.appendChild(buttons);
        }
        tr.appendChild(cell);
        return tr;
      }));
      previewTable.hidden = data.variants.length === 0;
    }

    document.getElementById("book-preview-btn").addEventListener("click", async function () {
      try { drawPreview(await api("POST", "/admin/response-book/preview", { source: source.value })); show(errorBox, ""); }
      catch (e) { fail(e); }
    });
    document.getElementById("book-publish-btn").addEventListener("click", async function () {
      try {
        const v = await api("POST", "/admin/response-book", { source: source.value, comment: document.getElementById("book-comment").value });
        document.getElementById("book-comment").value = "";
        await load();  // (the notice once the page shows the new version, as act() does)
        done("Version " + v.version + " published; the bot answers with it now.");
      } catch (e) { fail(e); }
    });
    document.getElementById("book-reload-btn").addEventListener("click", function () {
      act(async function () { const r = await api("POST", "/admin/response-book/reload"); noticeBox.dataset.inUse = r.in_use; }, "Reloaded: this server answers with the active version", load);
    });
    await load();
  }

  // ---- the audit log -----------------------------------------------------------------------
  function shown(value) { return typeof value === "string" ? value : JSON.stringify(value); }

  // {"role": ["agent", "admin"], "sessions_ended": 2} → "role: agent → admin; sessions_ended: 2"
  function details(d) {
    const keys = Object.keys(d || {});
    if (!keys.length) return "–";
    return keys.map(function (k) {
      const v = d[k];
      return k + ": " + (Array.isArray(v) && v.length === 2 ? shown(v[0]) + " → " + shown(v[1]) : shown(v));
    }).join("; ");
  }

  async function auditPage() {
    const tbody = document.querySelector("#audit-table tbody");
    const more = document.getElementById("audit-more");
    let before = null;

    async function load(append) {
      const params = new URLSearchParams({ limit: "50" });
      const action = document.getElementById("audit-action").value.trim();
      const target = document.getElementById("audit-target").value.trim();
      if (action) params.set("action", action);
      if (target) params.set("target", target);
      if (append && before) params.set("before_id", before);
      const data = await api("GET", "/admin/audit?" + params.toString());
      const rows = data.entries.map(function (e) {
        const tr = el("tr", { "data-action": e.action });
        tr.append(el("td", {}, when(e.at)), el("td", {}, e.actor), el("td", {}, e.action), el("td", {}, e.target),
          el("td", { class: "details" }, details(e.details)));
        return tr;
      });
      if (append) rows.forEach(function (r) { tbody.appendChild(r); });
      else tbody.replaceChildren.apply(tbody, rows);
      before = data.next_before_id;
      more.hidden = !before;
      document.getElementById("audit-empty").hidden = tbody.children.length > 0;
    }

    document.getElementById("audit-filter").addEventListener("submit", function (ev) {
      ev.preventDefault(); load(false).catch(fail);
    });
    more.addEventListener("click", function () { load(true).catch(fail); });
    await load(false);
  }

  const pages = { users: usersPage, teams: teamsPage, sla: slaPage, canned: cannedPage, responses: responsesPage, audit: auditPage };
  (pages[root.dataset.page] || function () { return Promise.resolve(); })()
    .then(function () { root.dataset.ready = "1"; })
    .catch(fail);
})();
