// Live parts of the UI: the ticket conversation over the WebSocket, the inbox badge.
// No inline scripts (CSP); all user content is inserted as text or as server-sanitized HTML.
"use strict";

const meta = (name) => document.querySelector(`meta[name="${name}"]`)?.content || "";
const csrf = () => meta("csrf-token");
const isStaff = () => ["agent", "admin"].includes(meta("user-role"));

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
    this.lastId = 0;       // last message id seen: a reconnect asks for what came after
    this.lastEventId = 0;  // same for timeline entries
    this.retry = 500;
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    this.form.addEventListener("change", () => this.markComposer());
    this.form.querySelector("textarea").addEventListener("input", () => this.sendTyping());
    this.markComposer();
    this.connect();
  }

  visibility() {
    return this.form.querySelector('input[name="visibility"]:checked, input[name="visibility"][type="hidden"]')?.value || "public";
  }

  markComposer() {
    const internal = this.visibility() === "internal";
    this.form.classList.toggle("internal", internal);
    document.getElementById("send").textContent = internal ? "Send internal note" : "Send";
  }

  place(id, item) {
    const existing = document.getElementById(id);
    if (existing) existing.replaceWith(item); else this.list.append(item);
    this.list.scrollTop = this.list.scrollHeight;
  }

  renderMessage(message) {
    this.lastId = Math.max(this.lastId, message.id);
    const item = el("li", { class: `message ${message.visibility}`, id: `m-${message.id}` });
    const head = el("header");
    head.append(el("strong", {}, message.author?.name || "Someone"));
    if (message.visibility === "internal") head.append(el("span", { class: "tag-internal" }, "internal"));
    head.append(el("time", { datetime: message.created_at }, new Date(message.created_at).toLocaleString()));
    if (message.edited_at) head.append(el("small", {}, "edited"));
    item.append(head);
    const body = el("div", { class: "body" });
    if (message.deleted_at) body.textContent = "(message deleted)";
    // `html` is rendered and sanitized by the server (markdown-it-py + nh3).
    else if (message.html) body.innerHTML = message.html;
    else body.textContent = message.body;
    item.append(body);
    this.place(`m-${message.id}`, item);
    this.markRead(message.id);
  }

  renderEvent(frame) {
    this.lastEventId = Math.max(this.lastEventId, frame.event_id);
    const entry = frame.entry || {};
    const item = el("li", { class: `message system ${frame.visibility}`, id: `e-${frame.event_id}` });
    let text = (entry.kind || frame.kind || "").replace("ticket.", "").replace("_", " ");
    if (entry.old_value || entry.new_value) text += `: ${entry.old_value || ""} → ${entry.new_value || ""}`;
    if (entry.body) text += ` — ${entry.body}`;
    if (entry.actor_name) text += ` (${entry.actor_name})`;
    if (frame.visibility === "internal") item.append(el("span", { class: "tag-internal" }, "internal"));
    item.append(el("span", {}, text));
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
      case "subscribed": (frame.backlog || []).forEach((f) => this.onFrame(f)); break;
      case "message": case "message_updated": this.renderMessage(frame.message); break;
      case "message_deleted": document.getElementById(`m-${frame.message_id}`)?.remove(); break;
      case "ticket_event": this.renderEvent(frame); break;
      case "typing": this.showTyping(frame); break;
      case "error": this.showError(frame.message); break;
      case "notification": refreshBadge(); break;
      default: break;
    }
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

  async send() {
    const textarea = this.form.querySelector("textarea");
    const body = textarea.value.trim();
    if (!body) return;
    this.showError("");
    try {
      const message = await api("POST", `/api/v1/tickets/${this.ticketId}/messages`,
        { body, visibility: this.visibility(), client_msg_id: crypto.randomUUID() });
      this.renderMessage(message);
      textarea.value = "";
    } catch (error) {
      this.showError(error.message);
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
