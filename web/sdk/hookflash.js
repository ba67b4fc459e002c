// Hookflash JavaScript client SDK.
//
//   const hf = new HookflashClient({ url: "https://cti.example.com", token: "hfk_…", fullEvents: false });
//   hf.on("info_event", (m) => …);          // every delta
//   hf.on("state", (element, items) => …);  // the live model changed (items: Map key → element)
//   hf.on("status", (s) => …);              // connecting | live | reconnecting | closed
//   hf.connect();
//   await hf.request("hangup", { channel: uuid });
//
// It keeps the live model per element kind, reconnects with exponential
// backoff and resumes with since=<epoch>:<seq>, so nothing is missed; a
// "resync" system message or a fresh initial_info replaces the model.
(function (root) {
  "use strict";
  const KEYS = { channel: "uuid", queued_channel: "uuid", parked_channel: "uuid", user: "id", group: "id", group_member: "id", terminal: "id", pbx: "id" };

  class HookflashClient {
    constructor(opts) {
      this.url = (opts.url || location.origin).replace(/\/$/, "");
      this.token = opts.token;
      this.fullEvents = !!opts.fullEvents;
      this.handlers = {};
      this.state = {};
      this.epoch = ""; this.seq = 0;
      this.pending = new Map();
      this.nextId = 1;
      this.backoff = 500;
      this.closed = false;
    }
    on(type, fn) { (this.handlers[type] = this.handlers[type] || []).push(fn); return this; }
    emit(type, ...args) { (this.handlers[type] || []).forEach((fn) => { try { fn(...args); } catch (e) { console.error(e); } }); }

    feedURL() {
      const u = new URL(this.url + "/api/v1/ws");
      u.protocol = u.protocol === "https:" ? "wss:" : "ws:";
      u.searchParams.set("token", this.token);
      if (this.fullEvents) u.searchParams.set("full_events", "true");
      if (this.epoch) u.searchParams.set("since", this.epoch + ":" + this.seq);
      return u.toString();
    }

    connect() {
      this.closed = false;
      this.emit("status", this.epoch ? "reconnecting" : "connecting");
      const ws = new WebSocket(this.feedURL());
      this.ws = ws;
      ws.onopen = () => { this.backoff = 500; };
      ws.onmessage = (ev) => String(ev.data).split("\n").forEach((line) => line && this.handle(JSON.parse(line)));
      ws.onclose = (ev) => {
        this.emit("status", "closed", ev.code, ev.reason);
        for (const [, p] of this.pending) p.reject(new Error("connection closed"));
        this.pending.clear();
        if (this.closed || ev.code === 4003 || ev.code === 1008) return; // revoked or refused: do not retry
        const wait = Math.random() * this.backoff;
        this.backoff = Math.min(this.backoff * 2, 15000);
        setTimeout(() => this.connect(), wait);
      };
    }

    close() { this.closed = true; if (this.ws) this.ws.close(1000); }

    handle(m) {
      switch (m.type) {
        case "initial_info": {
          const items = new Map();
          (m.data || []).forEach((d) => items.set(d[KEYS[m.element]] || JSON.stringify(d), d));
          this.state[m.element] = items;
          this.epoch = m.epoch; this.seq = m.seq;
          this.emit("status", "live");
          this.emit("state", m.element, items);
          break;
        }
        case "info_event": {
          if (m.epoch === this.epoch && m.seq <= this.seq) return; // already applied
          this.epoch = m.epoch; this.seq = m.seq;
          const items = this.state[m.element] || (this.state[m.element] = new Map());
          const key = m.data[KEYS[m.element]] || JSON.stringify(m.data);
          if (m.event === "removed") items.delete(key); else items.set(key, m.data);
          this.emit("info_event", m);
          this.emit("state", m.element, items);
          break;
        }
        case "system_msg":
          this.emit("system", m.msg);
          break;
        case "response": {
          const p = this.pending.get(m.id);
          if (p) { this.pending.delete(m.id); m.result === "success" ? p.resolve(m.data) : p.reject(new Error(m.error || "error")); }
          break;
        }
        case "error":
          this.emit("error", m.error);
          break;
      }
    }

    // request sends a command ({"id","request",…}) and resolves with its data.
    request(name, fields) {
      const id = String(this.nextId++);
      return new Promise((resolve, reject) => {
        if (!this.ws || this.ws.readyState !== 1) return reject(new Error("not connected"));
        this.pending.set(id, { resolve, reject });
        this.ws.send(JSON.stringify(Object.assign({ id, request: name }, fields || {})));
        setTimeout(() => { if (this.pending.delete(id)) reject(new Error("timeout")); }, 15000);
      });
    }
  }
  root.HookflashClient = HookflashClient;
  if (typeof module !== "undefined") module.exports = HookflashClient;
})(typeof window !== "undefined" ? window : globalThis);
