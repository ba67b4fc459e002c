// The operator console: connects to the feed with a token (from ?token= or a
// login) and renders the live model the SDK keeps.
(function () {
  "use strict";
  const $ = (s) => document.querySelector(s);
  const esc = (s) => String(s == null ? "" : s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const params = new URLSearchParams(location.search);
  let client, users = new Map();

  function ago(us) {
    if (!us) return "";
    const s = Math.max(0, Math.round((Date.now() * 1000 - us) / 1e6));
    return s < 60 ? s + "s" : Math.floor(s / 60) + "m" + String(s % 60).padStart(2, "0");
  }
  function rows(sel, items, render) {
    const tb = $(sel + " tbody");
    tb.innerHTML = items.map(render).join("") || '<tr><td colspan="9" style="color:var(--dim)">none</td></tr>';
  }
  function userName(id) { const u = users.get(id); return u ? u.name : (id ? id.slice(0, 10) : ""); }

  function render() {
    const st = client.state;
    users = st.user || new Map();
    const chans = [...(st.channel || new Map()).values()];
    rows("#t-calls", chans, (c) => `<tr><td><span class="pill ${esc(c.state && c.state.name)}">${esc(c.state && c.state.name)}</span></td>
      <td>${esc(c.calling_name || "")} ${esc(c.calling_number)}</td><td>${esc(c.called_number)}</td><td>${esc(userName(c.user_id))}</td>
      <td>${esc(c.direction)}</td><td>${ago(c.state && c.state.ts)}</td>
      <td><button class="small" data-hangup="${esc(c.uuid)}">hang up</button></td></tr>`);
    const groups = [...(st.group || new Map()).values()];
    rows("#t-groups", groups, (g) => `<tr><td>${esc(g.name || g.id)}</td><td>${esc(g.waiting)}</td><td>${esc(g.longest_wait_s)}s</td>
      <td>${esc(g.answered)}</td><td>${esc(g.abandoned)}</td><td>${esc(g.service_level_pct)}</td></tr>`);
    const members = [...(st.group_member || new Map()).values()];
    rows("#t-members", members, (m) => `<tr><td>${esc(userName(m.user_id) || m.interface)}</td><td>${esc((m.group_id || "").split(":").pop())}</td>
      <td>${m.paused ? '<span class="pill hold">paused ' + esc(m.pause_reason || "") + "</span>" : esc(m.login_status)}</td><td>${esc(m.calls_taken)}</td></tr>`);
    const parked = [...(st.parked_channel || new Map()).values()];
    rows("#t-parked", parked, (p) => `<tr><td>${esc(p.slot)}</td><td>${esc(p.peer_number)}</td><td>${esc(userName(p.parker_user_id))}</td></tr>`);
    rows("#t-users", [...users.values()], (u) => `<tr><td>${esc(u.name)}</td><td><span class="pill">${esc(u.presence)}</span></td></tr>`);
    $("#n-calls").textContent = chans.length;
    $("#n-waiting").textContent = groups.reduce((n, g) => n + (g.waiting || 0), 0);
    $("#n-parked").textContent = parked.length;
    $("#n-agents").textContent = members.filter((m) => m.login_status === "logged_in" && !m.paused).length;
    $("#seq").textContent = "seq " + client.seq;
  }

  let pending = false;
  function schedule() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; render(); }); } }

  function log(m) {
    const li = document.createElement("li");
    const d = m.data || {};
    li.className = m.event;
    li.textContent = `${new Date().toLocaleTimeString()}  #${m.seq}  ${m.element.padEnd(14)} ${m.event.padEnd(8)} ${d.state ? d.state.name : ""} ${d.calling_number || ""} ${d.called_number ? "→ " + d.called_number : ""} ${d.name || d.interface || ""}`;
    const ol = $("#log");
    ol.prepend(li);
    while (ol.children.length > 200) ol.lastChild.remove();
  }

  function start(token, tenant) {
    $("#login").hidden = true; $("#board").hidden = false;
    $("#tenant").textContent = tenant || "";
    client = new HookflashClient({ url: location.origin, token, fullEvents: params.get("full_events") === "true" });
    client.on("state", schedule).on("info_event", log)
      .on("status", (s, code, reason) => { const el = $("#status"); el.className = "status " + s; el.textContent = s + (code ? " (" + code + (reason ? " " + reason : "") + ")" : ""); })
      .on("system", (msg) => log({ seq: "-", element: "system", event: msg, data: {} }));
    client.connect();
    document.addEventListener("click", (e) => {
      const id = e.target.getAttribute && e.target.getAttribute("data-hangup");
      if (id) client.request("hangup", { channel: id }).catch((err) => alert("hangup: " + err.message));
    });
    fetch("/api/v1/auth/me", { headers: { Authorization: "Bearer " + token } }).then((r) => r.json()).then((me) => { if (me.tenant) $("#tenant").textContent = me.tenant + " · " + me.kind + " · " + me.role; });
  }

  $("#login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = new FormData(e.target);
    if (f.get("token")) return start(f.get("token"));
    const r = await fetch("/api/v1/auth/login", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ domain: f.get("domain"), username: f.get("username"), password: f.get("password") }) });
    const body = await r.json();
    if (!r.ok) { $("#login-error").textContent = (body.error && body.error.message) || r.statusText; return; }
    start(body.token, f.get("domain"));
  });

  const token = params.get("token");
  if (token) start(token); else $("#login").hidden = false;
})();
