// Live parts of the UI: the ticket conversation over the WebSocket, the inbox badge.
// No inline scripts (CSP); all user content is inserted as text or as server-sanitized HTML.
"use strict";

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";
const csrf = () => meta("csrf-token");
const isStaff = () => ["agent", "admin"].includes(meta("user-role"));
const DESK = { key: "desk", name: "the service desk" };

// Times in the viewer's zone, written like the server's `localtime` filter does:
// "2026-03-02 14:05 CET". The zone's abbreviations come from the server (meta
// user-tz-labels, by UTC offset), so live entries read like the ones on page load.
function zoneLabel(date, zone) {
  let offset = "+00:00";
  try {
    const name = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" })
      .formatToParts(date).find((p) => p.type === "timeZoneName")?.value || "GMT";
    offset = name === "GMT" ? "+00:00" : name.replace("GMT", "");
  } catch (_) { /* an unknown zone: UTC */ }
  let labels = {};
  try { labels = JSON.parse(meta("user-tz-labels") || "{}"); } catch (_) { /* none */ }
  return labels[offset] || `UTC${offset}`;
}

function wallClock(iso) {
  const date = new Date(iso);
  const zone = meta("user-tz") || "UTC";
  let parts;
  try {
    parts = new Intl.DateTimeFormat("en-GB", {
      timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", hourCycle: "h23",
    }).formatToParts(date);
  } catch (_) {
    return `${date.toISOString().slice(0, 16).replace("T", " ")} UTC`;
  }
  const get = (type) => parts.find((p) => p.type === type)?.value || "";
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")} ${zoneLabel(date, zone)}`;
}

function timeElement(iso) {
  const date = new Date(iso);
  const utc = date.toISOString();
  return el("time", { datetime: `${utc.slice(0, 19)}Z`, title: `${utc.slice(0, 16).replace("T", " ")} UTC` },
    wallClock(iso));
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  if (!response.ok) {
    const message = data?.error?.message || `request failed (${response.status})`;
    throw new Error(message);
  }
  return data;
}

// Images shown inline (the server serves only these inline); anything else is a download.
const INLINE_TYPES = new Set(["image/png", "image/jpeg", "image/gif", "image/webp"]);

function renderAttachments(attachments) {
  const list = el("ul", { class: "attachments" });
  for (const file of attachments) {
    const item = el("li");
    if (INLINE_TYPES.has(file.content_type)) {
      const link = el("a", { href: file.url, target: "_blank", rel: "noopener" });
      link.append(el("img", { class: "thumb", src: file.url, alt: file.filename }));
      item.append(link);
    } else {
      item.append(el("a", { href: file.url, download: file.filename }, file.filename));
      item.append(" ");
      item.append(el("small", {}, `${(file.size / 1024).toFixed(1)} KB`));
    }
    list.append(item);
  }
  return list;
}

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

class Conversation {
  constructor(root) {
    this.ticketId = Number(root.dataset.ticketId);
    this.list = document.getElementById("messages");
    this.typing = document.getElementById("typing");
    this.form = document.getElementById("composer");
    this.error = document.getElementById("composer-error");
    // The page arrives with the conversation rendered; the socket asks for what came after.
    this.lastId = Number(this.list.dataset.since) || 0;       // last message id shown
    this.lastEventId = Number(this.list.dataset.sinceEvent) || 0;  // same for timeline entries
    this.reads = new Map();  // marker key -> {name, messageId}: who has read up to where
    this.list.querySelectorAll(".seen .reader").forEach((r) => {
      this.reads.set(r.dataset.reader, { name: r.textContent, messageId: Number(r.dataset.read) });
    });
    this.retry = 500;
    document.addEventListener("visibilitychange", () => this.markSeen());
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    // Keys, drafts and the public/internal label (composer.js); saved replies for staff.
    this.composer = new Composer(this.form, { ticketId: this.ticketId, userId: meta("user-id") });
    const picker = document.getElementById("reply-picker");
    if (picker && isStaff()) new ReplyPicker(this.composer, picker);
    this.form.querySelector("textarea").addEventListener("input", () => this.sendTyping());
    // Files: the picker, dropped on the composer, or pasted (a screenshot) into it; each is
    // uploaded at once and goes with the next message sent.
    this.pending = [];
    this.pendingList = document.getElementById("pending-files");
    this.picker = document.getElementById("files");
    this.picker.addEventListener("change", () => { this.upload([...this.picker.files]); this.picker.value = ""; });
    this.form.addEventListener("dragover", (event) => { event.preventDefault(); this.form.classList.add("dropping"); });
    this.form.addEventListener("dragleave", () => this.form.classList.remove("dropping"));
    this.form.addEventListener("drop", (event) => {
      event.preventDefault();
      this.form.classList.remove("dropping");
      this.upload([...(event.dataTransfer?.files || [])]);
    });
    this.form.querySelector("textarea").addEventListener("paste", (event) => {
      const files = [...(event.clipboardData?.files || [])];
      if (files.length) { event.preventDefault(); this.upload(files); }
    });
    this.connect();
  }

  visibility() {
    return this.composer.visibility();
  }

  place(id, item) {
    const existing = document.getElementById(id);
    if (existing) existing.replaceWith(item); else this.list.append(item);
    this.list.scrollTop = this.list.scrollHeight;
  }

  // "Seen by …" under the latest shown message at or before each reader's marker. End
  // users only ever hold public messages, so a desk marker past them stays at the last one.
  renderReceipts() {
    this.list.querySelectorAll(".seen").forEach((node) => node.remove());
    const shown = [...this.list.querySelectorAll("li.message[data-message-id]")];
    const at = new Map();
    for (const [key, read] of [...this.reads].sort((a, b) => a[1].name.localeCompare(b[1].name))) {
      let target = null;
      for (const item of shown) {
        const id = Number(item.dataset.messageId);
        if (id <= read.messageId && (!target || id > Number(target.dataset.messageId))) target = item;
      }
      if (!target) continue;
      if (!at.has(target)) at.set(target, []);
      at.get(target).push([key, read]);
    }
    for (const [item, readers] of at) {
      const line = el("p", { class: "seen", "data-message-id": item.dataset.messageId }, "Seen by ");
      readers.forEach(([key, read], i) => {
        if (i) line.append(", ");
        line.append(el("span", { class: "reader", "data-reader": key, "data-read": String(read.messageId) }, read.name));
      });
      item.append(line);
    }
  }

  onRead(frame) {
    if (String(frame.user_id) === meta("user-id")) return;
    // Agents see everyone by name; end users see the service desk's reads only.
    const reader = isStaff() ? { key: `user:${frame.user_id}`, name: frame.name || "Someone" }
      : (frame.staff ? DESK : null);
    if (!reader) return;
    const known = this.reads.get(reader.key);
    if (known && known.messageId >= frame.message_id) return;
    this.reads.set(reader.key, { name: reader.name, messageId: frame.message_id });
    this.renderReceipts();
  }

  renderMessage(message) {
    this.lastId = Math.max(this.lastId, message.id);
    const item = el("li", { class: `message ${message.visibility}`, id: `m-${message.id}`, "data-message-id": String(message.id) });
    const head = el("header");
    head.append(el("strong", {}, message.author?.name || "Someone"));
    if (message.visibility === "internal") head.append(el("span", { class: "tag-internal" }, "internal"));
    head.append(timeElement(message.created_at));
    if (message.edited_at) head.append(el("small", {}, "edited"));
    item.append(head);
    const body = el("div", { class: "body" });
    if (message.deleted_at) body.textContent = "(message deleted)";
    // `html` is rendered and sanitized by the server (markdown-it-py + nh3).
    else if (message.html) body.innerHTML = message.html;
    else body.textContent = message.body;
    item.append(body);
    if (!message.deleted_at && message.attachments?.length) item.append(renderAttachments(message.attachments));
    this.place(`m-${message.id}`, item);
    this.renderReceipts();
  }

  markDeleted(messageId) {
    // As the server renders it: the message keeps its place, without its content.
    const body = document.querySelector(`#m-${messageId} .body`);
    if (body) body.textContent = "(message deleted)";
    document.querySelector(`#m-${messageId} .attachments`)?.remove();
  }

  renderEvent(frame) {
    this.lastEventId = Math.max(this.lastEventId, frame.event_id);
    const entry = frame.entry || {};
    const item = el("li", { class: `message system ${frame.visibility}`, id: `e-${frame.event_id}` });
    let text = (entry.kind || frame.kind || "").replace("ticket.", "").replaceAll("_", " ");
    if (entry.old_value || entry.new_value) text += `: ${entry.old_value || ""} → ${entry.new_value || ""}`;
    if (entry.body) text += ` — ${entry.body}`;
    if (entry.actor_name) text += ` (${entry.actor_name})`;
    if (frame.visibility === "internal") item.append(el("span", { class: "tag-internal" }, "internal"));
    item.append(el("span", {}, text));
    if (entry.occurred_at) { item.append(" "); item.append(timeElement(entry.occurred_at)); }
    this.place(`e-${frame.event_id}`, item);
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    this.socket = socket;
    socket.addEventListener("open", () => { this.retry = 500; });
    socket.addEventListener("message", (event) => this.onFrame(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    });
  }

  subscribe() {
    const frame = { type: "subscribe", ticket_id: this.ticketId };
    if (this.lastId) frame.since = this.lastId;
    if (this.lastEventId) frame.since_event = this.lastEventId;
    this.socket.send(JSON.stringify(frame));
  }

  onFrame(frame) {
    switch (frame.type) {
      case "authenticated": this.subscribe(); break;
      case "subscribed": (frame.backlog || []).forEach((f) => this.onFrame(f)); this.markSeen(); break;
      case "message": this.renderMessage(frame.message); this.markSeen(); break;
      // Changes to messages this page does not show (older than its window) are ignored.
      case "message_updated":
        if (document.getElementById(`m-${frame.message.id}`)) this.renderMessage(frame.message);
        break;
      case "message_deleted": this.markDeleted(frame.message_id); break;
      case "read": this.onRead(frame); break;
      case "ticket_event": this.renderEvent(frame); break;
      case "typing": this.showTyping(frame); break;
      case "error": this.showError(frame.message); break;
      case "notification": refreshBadge(); break;
      default: break;
    }
  }

  // Tell the room how far this person has read: the last message shown, once the page is
  // actually in view. An agent whose last message is internal first marks the last public
  // one, so requesters (who never hear of internal reads) see the desk's marker move too.
  markSeen() {
    if (document.visibilityState !== "visible") return;
    const shown = [...this.list.querySelectorAll("li.message[data-message-id]")];
    if (!shown.length) return;
    const ids = (items) => items.map((item) => Number(item.dataset.messageId));
    const last = Math.max(...ids(shown));
    const lastPublic = Math.max(0, ...ids(shown.filter((item) => item.classList.contains("public"))));
    if (lastPublic < last) this.markRead(lastPublic);
    this.markRead(last);
  }

  markRead(messageId) {
    if (this.socket?.readyState === WebSocket.OPEN && messageId > (this.readSent || 0)) {
      this.readSent = messageId;
      this.socket.send(JSON.stringify({ type: "read", ticket_id: this.ticketId, message_id: messageId }));
    }
  }

  showTyping(frame) {
    if (String(frame.user_id) === meta("user-id")) return;
    this.typing.textContent = `${frame.name || "Someone"} is typing…`;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => { this.typing.textContent = ""; }, 3000);
  }

  sendTyping() {
    const now = Date.now();
    if (this.socket?.readyState === WebSocket.OPEN && now - (this.typingSent || 0) > 2000) {
      this.typingSent = now;
      this.socket.send(JSON.stringify({ type: "typing", ticket_id: this.ticketId, visibility: this.visibility() }));
    }
  }

  showError(message) {
    this.error.textContent = message || "";
    this.error.hidden = !message;
  }

  async upload(files) {
    this.showError("");
    for (const file of files) {
      const form = new FormData();
      // A pasted screenshot may come without a name.
      form.append("file", file, file.name || `screenshot-${Date.now()}.png`);
      try {
        const response = await fetch(`/api/v1/tickets/${this.ticketId}/attachments`, {
          method: "POST", credentials: "same-origin", headers: { "X-CSRF-Token": csrf() }, body: form,
        });
        const data = await response.json().catch(() => null);
        if (!response.ok) throw new Error(data?.error?.message || `upload failed (${response.status})`);
        this.pending.push(data);
      } catch (error) {
        this.showError(`${file.name || "screenshot"}: ${error.message}`);
      }
    }
    this.renderPending();
  }

  renderPending() {
    this.pendingList.replaceChildren(...this.pending.map((file) => {
      const item = el("li", { class: "pending-file" }, `${file.filename} `);
      const remove = el("button", { type: "button", "aria-label": `Remove ${file.filename}` }, "×");
      remove.addEventListener("click", () => {
        this.pending = this.pending.filter((f) => f.id !== file.id);
        this.renderPending();
      });
      item.append(remove);
      return item;
    }));
  }

  async send() {
    if (this.sending) return;  // Enter pressed twice: one message
    const text = this.form.querySelector("textarea").value;
    const visibility = this.visibility();
    let body = text.trim();
    if (!body && !this.pending.length) return;
    // A message needs text: files sent alone are announced by their names.
    if (!body) body = this.pending.map((file) => `📎 ${file.filename}`).join("\n");
    const files = this.pending.map((file) => file.id);
    // Sending the same thing again after a failure reuses the id: if the first attempt was
    // stored after all, the server answers with it instead of storing a second one.
    const attempt = JSON.stringify([body, visibility, files]);
    if (this.unsent?.attempt !== attempt) this.unsent = { attempt, id: crypto.randomUUID() };
    this.showError("");
    this.sending = true;
    try {
      const message = await api("POST", `/api/v1/tickets/${this.ticketId}/messages`, {
        body, visibility, client_msg_id: this.unsent.id, attachments: files,
      });
      this.unsent = null;
      this.renderMessage(message);
      this.composer.sent(text, visibility);
      this.pending = this.pending.filter((file) => !files.includes(file.id));
      this.renderPending();
    } catch (error) {
      this.showError(error.message);
    } finally {
      this.sending = false;
    }
  }
}

async function refreshBadge() {
  const badge = document.getElementById("inbox-badge");
  if (!badge) return;
  try {
    const data = await api("GET", "/api/v1/me/notifications?limit=1");
    const unread = data?.unread ?? data?.unread_count ?? 0;
    badge.textContent = unread;
    badge.hidden = !unread;
  } catch (_) { /* the inbox is optional */ }
}

document.addEventListener("DOMContentLoaded", () => {
  const ticket = document.getElementById("ticket");
  if (ticket) new Conversation(ticket);
  if (meta("csrf-token")) { refreshBadge(); setInterval(refreshBadge, 30000); }
  if (document.querySelector('[data-live="tickets"]')) setTimeout(() => location.reload(), 30000);
});
