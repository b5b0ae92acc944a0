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
    this.lastId = 0;
    this.seen = new Set();
    this.retry = 500;
    this.form.addEventListener("submit", (event) => { event.preventDefault(); this.send(); });
    this.form.addEventListener("change", () => this.markComposer());
    this.form.querySelector("textarea").addEventListener("input", () => this.sendTyping());
    this.markComposer();
    this.connect();
  }

  markComposer() {
    const internal = this.form.querySelector('input[name="visibility"]:checked')?.value === "internal";
    this.form.classList.toggle("internal", internal);
    document.getElementById("send").textContent = internal ? "Send internal note" : "Send";
  }

  render(message) {
    if (this.seen.has(message.id)) return;
    this.seen.add(message.id);
    this.lastId = Math.max(this.lastId, message.id);
    const item = el("li", { class: `message ${message.visibility}`, id: `m-${message.id}` });
    const head = el("header");
    head.append(el("strong", {}, message.author_name || message.author?.name || "Someone"));
    if (message.visibility === "internal") head.append(el("span", { class: "tag-internal" }, "internal"));
    head.append(el("time", { datetime: message.created_at }, new Date(message.created_at).toLocaleString()));
    item.append(head);
    const body = el("div", { class: "body" });
    // `html` is rendered and sanitized by the server (markdown-it + nh3); fall back to text.
    if (message.html) body.innerHTML = message.html; else body.textContent = message.body;
    item.append(body);
    this.list.append(item);
    this.list.scrollTop = this.list.scrollHeight;
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws`);
    this.socket = socket;
    socket.addEventListener("open", () => {
      this.retry = 500;
      const frame = { type: "subscribe", ticket_id: this.ticketId };
      if (this.lastId) frame.since = this.lastId;
      socket.send(JSON.stringify(frame));
    });
    socket.addEventListener("message", (event) => this.onFrame(JSON.parse(event.data)));
    socket.addEventListener("close", () => {
      setTimeout(() => this.connect(), this.retry);
      this.retry = Math.min(this.retry * 2, 10000);
    });
  }

  onFrame(frame) {
    if (frame.type === "subscribed") (frame.backlog || []).forEach((m) => this.renderEntry(m));
    else if (frame.type === "message") this.renderEntry(frame.message || frame);
    else if (frame.type === "typing") this.showTyping(frame);
    else if (frame.type === "error") this.showError(frame.message);
    else if (frame.type === "message_deleted") document.getElementById(`m-${frame.message_id}`)?.remove();
    else if (frame.type === "notification") refreshBadge();
  }

  renderEntry(entry) {
    if (entry.kind === "system" || entry.type === "ticket_event") return;  // timeline aside
    this.render(entry);
  }

  showTyping(frame) {
    if (String(frame.user_id) === meta("user-id")) return;
    this.typing.textContent = `${frame.user_name || "Someone"} is typing…`;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(() => { this.typing.textContent = ""; }, 3000);
  }

  sendTyping() {
    const now = Date.now();
    if (this.socket?.readyState === WebSocket.OPEN && now - (this.typingSent || 0) > 2000) {
      this.typingSent = now;
      this.socket.send(JSON.stringify({ type: "typing", ticket_id: this.ticketId }));
    }
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  async send() {
    const textarea = this.form.querySelector("textarea");
    const body = textarea.value.trim();
    if (!body) return;
    const visibility = this.form.querySelector('[name="visibility"]:checked, [name="visibility"][type="hidden"]')?.value || "public";
    const frame = { body, visibility, client_msg_id: crypto.randomUUID() };
    this.showError("");
    try {
      const message = await api("POST", `/api/v1/tickets/${this.ticketId}/messages`, frame);
      this.render(message);
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
