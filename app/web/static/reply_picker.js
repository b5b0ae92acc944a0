// Saved replies in the composer (staff): `/` at the start of a line, or Ctrl+/ anywhere,
// opens a list filtered as you type; arrows choose, Enter (or Tab) inserts the reply with
// its placeholders filled in by the server for this ticket, Escape closes. No mouse needed.
"use strict";

const SHOWN_REPLIES = 8;
const STALE_AFTER_MS = 30000;  // a list older than this is fetched again when the picker opens

class ReplyPicker {
  constructor(composer, root) {
    this.composer = composer;
    this.textarea = composer.textarea;
    this.root = root;
    this.list = root.querySelector('[role="listbox"]');
    this.search = root.querySelector('input[type="search"]');
    this.status = document.getElementById("reply-status");
    this.replies = [];
    this.loadedAt = 0;
    this.mode = null;        // null (closed) | "slash" (typing in the message) | "search" (Ctrl+/)
    this.matches = [];
    this.active = 0;
    this.dismissed = false;  // Escape on a "/" line: stay closed until the line changes
    this.busy = false;       // a reply is being fetched: Enter must not send meanwhile
    composer.picker = this;
    this.textarea.setAttribute("aria-haspopup", "listbox");
    this.textarea.setAttribute("aria-controls", this.list.id);
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.addEventListener("input", () => this.onInput());
    this.textarea.addEventListener("blur", () => { if (this.mode === "slash") this.close(); });
    this.search.addEventListener("input", () => this.filter(this.search.value));
    this.search.addEventListener("keydown", (event) => {
      if (!event.isComposing && event.keyCode !== 229) this.navigate(event);
    });
    root.addEventListener("focusout", (event) => {
      if (this.mode === "search" && !root.contains(event.relatedTarget)) this.close();
    });
    // A click chooses too; mousedown keeps the focus where the typing happens.
    this.list.addEventListener("mousedown", (event) => event.preventDefault());
    this.list.addEventListener("click", (event) => {
      const option = event.target.closest('[role="option"]');
      if (option) this.choose(Number(option.dataset.index));
    });
    this.load();  // before the first `/`, so the list is there when it is wanted
  }

  async load() {
    const replies = [];
    let after = null;
    try {
      for (let page = 0; page < 5; page += 1) {  // up to 1,000 replies
        const query = after === null ? "" : `&after=${after}`;
        const data = await api("GET", `/api/v1/saved-replies?limit=200${query}`);
        replies.push(...data.items);
        after = data.next_after;
        if (after === null) break;
      }
    } catch (error) {
      this.say(`Saved replies could not be loaded: ${error.message}`);
      return;
    }
    this.replies = replies;
    this.loadedAt = Date.now();
    if (this.mode) this.filter(this.query());
  }

  // "/vpn reset" typed at the start of the current line, up to the caret: "vpn reset".
  slashQuery() {
    const { selectionStart: caret, selectionEnd, value } = this.textarea;
    if (caret !== selectionEnd) return null;
    const line = value.slice(value.lastIndexOf("\n", caret - 1) + 1, caret);
    const found = /^\/([^\n]{0,60})$/.exec(line);
    return found ? found[1] : null;
  }

  query() {
    return this.mode === "search" ? this.search.value : (this.slashQuery() ?? "");
  }

  onInput() {
    if (this.mode === "search") return;
    const query = this.slashQuery();
    if (query === null) {
      this.dismissed = false;
      if (this.mode) this.close();
      return;
    }
    if (this.dismissed) return;
    this.open("slash");
    this.filter(query);
  }

  open(mode) {
    this.mode = mode;
    this.root.hidden = false;
    this.search.hidden = mode !== "search";
    this.textarea.setAttribute("aria-expanded", "true");
    if (Date.now() - this.loadedAt > STALE_AFTER_MS) this.load();
  }

  // Ctrl+/ (Cmd+/ on a Mac): find a reply by name, to insert where the caret is.
  openSearch() {
    this.range = [this.textarea.selectionStart, this.textarea.selectionEnd];
    this.open("search");
    this.search.value = "";
    this.filter("");
    this.search.focus();
  }

  close({ refocus = false } = {}) {
    const wasSearch = this.mode === "search";
    this.mode = null;
    this.root.hidden = true;
    this.textarea.setAttribute("aria-expanded", "false");
    this.textarea.removeAttribute("aria-activedescendant");
    this.search.removeAttribute("aria-activedescendant");
    if (wasSearch && refocus) {
      this.textarea.focus();
      if (this.range) this.textarea.setSelectionRange(...this.range);
    }
  }

  filter(query) {
    const terms = query.toLowerCase().split(/\s+/).filter(Boolean);
    const whole = query.trim().toLowerCase();
    const rank = (reply) => {
      const title = reply.title.toLowerCase();
      if (title.startsWith(whole)) return 0;
      return terms.every((t) => title.includes(t)) ? 1 : 2;
    };
    this.matches = this.replies
      .filter((r) => terms.every((t) => `${r.title}\n${r.body}`.toLowerCase().includes(t)))
      .sort((a, b) => rank(a) - rank(b) || a.title.localeCompare(b.title))
      .slice(0, SHOWN_REPLIES);
    this.active = 0;
    this.render(query);
  }

  render(query) {
    this.list.replaceChildren(...this.matches.map((reply, index) => {
      const option = el("li", {
        role: "option", id: `reply-option-${reply.id}`, class: "reply-option",
        "aria-selected": String(index === this.active), "data-index": String(index),
      });
      option.append(el("strong", {}, reply.title));
      option.append(el("small", {}, reply.shared ? ` shared · ${reply.owner.name}` : " personal"));
      option.append(el("span", { class: "reply-preview" }, reply.body.slice(0, 120)));
      return option;
    }));
    const owner = this.mode === "search" ? this.search : this.textarea;
    if (this.matches.length) {
      owner.setAttribute("aria-activedescendant", `reply-option-${this.matches[this.active].id}`);
      const n = this.matches.length;
      this.say(`${n} saved ${n === 1 ? "reply" : "replies"}: arrows choose, Enter inserts, Escape closes.`);
    } else {
      owner.removeAttribute("aria-activedescendant");
      this.say(this.replies.length ? `No saved reply matches “${query.trim()}”.` : "No saved replies yet.");
    }
  }

  say(text) {
    this.status.textContent = text;
  }

  move(step) {
    if (!this.matches.length) return;
    this.active = (this.active + step + this.matches.length) % this.matches.length;
    this.render(this.query());
    this.list.children[this.active]?.scrollIntoView({ block: "nearest" });
  }

  // Keys in the message box, before the composer's own (Enter sends). True: taken here.
  handleKey(event) {
    if ((event.ctrlKey || event.metaKey) && event.key === "/") {
      event.preventDefault();
      this.openSearch();
      return true;
    }
    if (this.busy && event.key === "Enter") {
      event.preventDefault();
      return true;
    }
    if (this.mode !== "slash") return false;
    if (event.key === "Escape") {
      event.preventDefault();
      this.dismissed = true;
      this.close();
      return true;
    }
    // With nothing to choose, Enter and the arrows do what they always do.
    if (!this.matches.length) return false;
    return this.navigate(event);
  }

  navigate(event) {
    switch (event.key) {
      case "ArrowDown": this.move(1); break;
      case "ArrowUp": this.move(-1); break;
      case "Enter":
      case "Tab":
        if (!this.matches.length) {
          if (event.key === "Tab") return false;
          break;
        }
        this.choose(this.active);
        break;
      case "Escape": this.close({ refocus: true }); break;
      default: return false;
    }
    event.preventDefault();
    return true;
  }

  // Where the reply goes: over the "/query" of the line, or at the caret (Ctrl+/).
  target() {
    if (this.mode === "search") return this.range || [this.textarea.selectionStart, this.textarea.selectionEnd];
    const caret = this.textarea.selectionStart;
    return [this.textarea.value.lastIndexOf("\n", caret - 1) + 1, caret];
  }

  async choose(index) {
    const reply = this.matches[index];
    if (!reply || this.busy) return;
    const [start, end] = this.target();
    this.close({ refocus: true });
    this.busy = true;
    try {
      const rendered = await api("GET", `/api/v1/saved-replies/${reply.id}/render?ticket_id=${this.composer.ticketId}`);
      this.composer.insert(rendered.body, start, end);
      const missing = rendered.missing.map((name) => `{{${name}}}`).join(", ");
      this.say(missing ? `Inserted “${reply.title}”. This ticket has no value for ${missing}: check the text before sending.`
        : `Inserted “${reply.title}”.`);
    } catch (error) {
      this.say(`“${reply.title}” could not be inserted: ${error.message}`);
    } finally {
      this.busy = false;
    }
  }
}
