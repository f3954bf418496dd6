// Chat mode (the LLM bridge, docs/protocol.md): when the server has an LLM (/healthz says so in `llm`), the
// composer gets a "Chat" mode. A message goes out as `chat`; the answer shows up in the conversation card as its
// `reply` deltas arrive, ahead of the voice that speaks it, and `reply_ended` says whether it was complete.

const REASON_NOTE = { interrupted: "interrupted", error: "the LLM failed here" };

export class ChatPanel {
  #card;
  #list;
  #send;
  #answers = new Map();
  #enabled = false;

  /** `card` is the (hidden) section the conversation goes in; `send(message)` returns whether it went out. */
  constructor(card, send) {
    this.#card = card;
    this.#send = send;
  }

  get enabled() {
    return this.#enabled;
  }

  /** Offers chat mode when `llm` (from /healthz) names the server's model: a "Chat" choice in `modes`. */
  enable(llm, modes) {
    if (!llm || this.#enabled) return;
    this.#enabled = true;
    const title = document.createElement("h2");
    title.className = "card-title";
    title.id = "chat-title";
    title.textContent = `Conversation · ${llm.model}`;
    this.#list = document.createElement("ol");
    this.#list.className = "chat-log";
    this.#list.setAttribute("aria-live", "polite");
    this.#card.setAttribute("aria-labelledby", title.id);
    this.#card.replaceChildren(title, this.#list);
    this.#card.hidden = false;

    const choice = document.createElement("label");
    choice.title = "Ask the server's language model: its answer is spoken as it streams in";
    const input = document.createElement("input");
    input.type = "radio";
    input.name = "mode";
    input.value = "chat";
    const text = document.createElement("span");
    text.textContent = "Chat";
    choice.append(input, text);
    modes.append(choice);
  }

  /** Sends the user's message; its answer is shown under it as it arrives. */
  ask(text, id) {
    if (!this.#send({ type: "chat", text, id })) return false;
    this.#add("user", text);
    const answer = this.#add("assistant", "");
    answer.classList.add("is-pending");
    this.#answers.set(id, answer);
    return true;
  }

  reply({ id, delta }) {
    const answer = this.#answers.get(id) ?? this.#adopt(id);
    answer.classList.remove("is-pending");
    answer.querySelector(".chat-text").textContent += delta;
    this.#keepInView();
  }

  replyEnded({ id, text, reason }) {
    const answer = this.#answers.get(id) ?? this.#adopt(id);
    this.#answers.delete(id);
    answer.classList.remove("is-pending");
    answer.querySelector(".chat-text").textContent = text;
    if (REASON_NOTE[reason]) {
      answer.dataset.reason = reason;
      const note = document.createElement("span");
      note.className = "chat-note";
      note.textContent = REASON_NOTE[reason];
      answer.append(note);
    }
    this.#keepInView();
  }

  /** A new session has a new conversation (the server keeps the history per session). */
  clear() {
    this.#answers.clear();
    this.#list?.replaceChildren();
  }

  /** An answer to a message this page did not send (another client of the session, or one sent before reload). */
  #adopt(id) {
    const answer = this.#add("assistant", "");
    this.#answers.set(id, answer);
    return answer;
  }

  #add(role, text) {
    const item = document.createElement("li");
    item.className = `chat-message ${role}`;
    const body = document.createElement("p");
    body.className = "chat-text";
    body.textContent = text;
    item.append(body);
    this.#list.append(item);
    this.#keepInView();
    return item;
  }

  #keepInView() {
    this.#list.scrollTop = this.#list.scrollHeight;
  }
}
