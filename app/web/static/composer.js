// The chat composer: Enter sends, drafts per ticket and visibility, and a plain statement of
// who will read the message. Saved replies (staff) live in reply_picker.js.
"use strict";

const DRAFT_DAYS = 30;  // a draft older than this is dropped when the page opens

// What the composer says before anything is sent. The words matter more than the colour:
// the label is read out (aria-live) whenever the switch changes.
const AUDIENCES = {
  public: { tag: "Public", text: "the requester will see this message.", placeholder: "Write a public reply to the requester (Markdown)…" },
  internal: { tag: "Internal", text: "agents only; the requester will not see this.", placeholder: "Write an internal note for agents (Markdown)…" },
};

class Composer {
  constructor(form, { ticketId, userId }) {
    this.form = form;
    this.textarea = form.querySelector("textarea");
    this.audience = document.getElementById("composer-audience");
    this.ticketId = ticketId;
    this.userId = userId;
    this.restoreDraft();
    this.current = this.visibility();
    this.markVisibility();
    this.textarea.addEventListener("keydown", (event) => this.onKeydown(event));
    this.textarea.addEventListener("input", () => this.saveDraft());
    form.querySelectorAll('input[name="visibility"][type="radio"]').forEach((radio) => {
      radio.addEventListener("change", () => this.onVisibilityChange());
    });
    this.picker = null;  // set by the saved-reply picker, which sees keys first
  }

  visibility() {
    return this.form.querySelector('input[name="visibility"]:checked, input[name="visibility"][type="hidden"]')?.value || "public";
  }

  setVisibility(value) {
    const radio = this.form.querySelector(`input[name="visibility"][value="${value}"][type="radio"]`);
    if (radio) radio.checked = true;
  }

  // Enter sends, Shift+Enter is a new line. Never while an input method is composing
  // (Japanese, Chinese, Korean…): there Enter confirms the characters, it does not send.
  onKeydown(event) {
    if (event.isComposing || event.keyCode === 229) return;
    if (this.picker?.handleKey(event)) return;
    if (event.key === "Enter" && !event.shiftKey && !event.altKey) {
      event.preventDefault();
      this.form.requestSubmit();
    }
  }

  markVisibility() {
    const visibility = this.visibility();
    const internal = visibility === "internal";
    this.form.classList.toggle("internal", internal);
    document.getElementById("send").textContent = internal ? "Send internal note" : "Send";
    if (!this.audience) return;  // end users: everything they write is public
    const audience = AUDIENCES[visibility];
    this.audience.className = `audience audience-${visibility}`;
    this.audience.dataset.visibility = visibility;
    const tag = el("strong", { class: "audience-tag" }, audience.tag);
    this.audience.replaceChildren(tag, ` — ${audience.text}`);
    this.textarea.placeholder = audience.placeholder;
  }

  // Each visibility keeps its own draft: switching shows the other one's text (or an
  // empty box), so a note written as internal never rides along into a public reply.
  onVisibilityChange() {
    const previous = this.current;
    const next = this.visibility();
    if (previous === next) return;
    this.writeDraft(previous, this.textarea.value);
    this.textarea.value = this.readDraft(next)?.text || "";
    this.current = next;
    this.markVisibility();
  }

  // --- drafts in localStorage, per person, ticket and visibility ---------------------

  draftKey(visibility) {
    return `socialdesk:draft:${this.userId}:${this.ticketId}:${visibility}`;
  }

  readDraft(visibility) {
    try {
      const stored = JSON.parse(localStorage.getItem(this.draftKey(visibility)) || "null");
      if (!stored || typeof stored.text !== "string") return null;
      if (Date.now() - (stored.at || 0) > DRAFT_DAYS * 86400000) {
        localStorage.removeItem(this.draftKey(visibility));
        return null;
      }
      return stored;
    } catch (_) {
      return null;  // storage off (private mode) or unreadable: no draft
    }
  }

  writeDraft(visibility, text) {
    try {
      if (text.trim()) localStorage.setItem(this.draftKey(visibility), JSON.stringify({ text, at: Date.now() }));
      else localStorage.removeItem(this.draftKey(visibility));
    } catch (_) { /* storage full or off: the draft lives as long as the page */ }
  }

  saveDraft() {
    this.writeDraft(this.visibility(), this.textarea.value);
  }

  // On load: the draft written last, in its visibility (the label then says which).
  restoreDraft() {
    const drafts = ["public", "internal"]
      .filter((v) => this.form.querySelector(`input[name="visibility"][value="${v}"]`))
      .map((v) => [v, this.readDraft(v)])
      .filter(([, draft]) => draft);
    if (!drafts.length) return;
    const [visibility, draft] = drafts.sort((a, b) => b[1].at - a[1].at)[0];
    this.setVisibility(visibility);
    this.textarea.value = draft.text;
  }

  // The server stored the message (HTTP 201/200): its draft goes. Text typed while the
  // message was on its way stays, as the draft it now is.
  sent(text, visibility) {
    if (this.readDraft(visibility)?.text === text) this.writeDraft(visibility, "");
    if (this.visibility() === visibility && this.textarea.value === text) this.textarea.value = "";
  }

  // Text put in by code (a saved reply): as if typed.
  insert(text, start, end) {
    this.textarea.setRangeText(text, start, end, "end");
    this.textarea.focus();
    this.saveDraft();
  }
}
