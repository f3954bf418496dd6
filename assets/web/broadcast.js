// The page's "Broadcast" panel: start a broadcast to RTMP, WHIP and file outputs (docs/protocol.md,
// "Broadcasts"), watch its outputs' states, make it speak, open its WHEP viewer, stop it and fetch its recordings.
// It mounts itself into the page's #broadcast-panel and shares nothing with the page's own session.

import { Picker, fetchHealth } from "./pickers.js";
import { authHeaders, refusal } from "./whep.js";

const POLL_MS = 1000;
const KINDS = {
  rtmp: { label: "RTMP", placeholder: "rtmp://host/app/stream-key" },
  whip: { label: "WHIP", placeholder: "https://sfu.example/whip/endpoint" },
  file: { label: "File", placeholder: "show.mp4" },
};

const token = new URLSearchParams(location.search).get("token") ?? "";

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

async function api(method, path, body) {
  const init = { method, headers: authHeaders(token) };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (!response.ok) throw new Error(await refusal(response));
  return response.status === 204 ? null : response.json();
}

/** A link that works without headers: the token rides in the query. */
function withToken(path) {
  return token ? `${path}${path.includes("?") ? "&" : "?"}token=${encodeURIComponent(token)}` : path;
}

class OutputRow {
  constructor(onRemove) {
    this.kind = element("select", { "aria-label": "Output kind" },
      ...Object.entries(KINDS).map(([value, { label }]) => element("option", { value, text: label })));
    this.target = element("input", { type: "text", "aria-label": "Output URL or file name", autocomplete: "off" });
    this.bearer = element("input", { type: "password", class: "bearer", placeholder: "bearer token (optional)",
      "aria-label": "WHIP bearer token", autocomplete: "off" });
    const remove = element("button", { type: "button", class: "button remove", title: "Remove this output", text: "×" });
    remove.addEventListener("click", () => onRemove(this));
    this.kind.addEventListener("change", () => this.#renderKind());
    this.node = element("div", { class: "output-row" }, this.kind, this.target, remove, this.bearer);
    this.#renderKind();
  }

  #renderKind() {
    this.target.placeholder = KINDS[this.kind.value].placeholder;
    this.bearer.hidden = this.kind.value !== "whip";
  }

  /** The request's output object. */
  spec() {
    const spec = { [this.kind.value]: this.target.value.trim() };
    if (this.kind.value === "whip" && this.bearer.value) spec.bearer = this.bearer.value;
    return spec;
  }
}

export class BroadcastPanel {
  #root;
  #rows = [];
  #id = null;
  #timer = null;
  #ui;

  constructor(root) {
    this.#root = root;
    root.classList.add("broadcast-panel");
    const ui = {
      outputs: element("div", { class: "outputs" }),
      add: element("button", { type: "button", class: "button", text: "Add output" }),
      start: element("button", { type: "button", class: "button primary", id: "broadcast-start", text: "Start broadcast" }),
      stop: element("button", { type: "button", class: "button danger", id: "broadcast-stop", text: "Stop" }),
      states: element("table", { class: "broadcast-states", id: "broadcast-states" }),
      links: element("div", { class: "broadcast-links", id: "broadcast-links" }),
      text: element("textarea", { id: "broadcast-text", rows: "2", maxlength: "20000", "aria-label": "Text for the broadcast" }),
      say: element("button", { type: "button", class: "button primary", id: "broadcast-say", text: "Say" }),
      interrupt: element("button", { type: "button", class: "button danger", text: "Interrupt" }),
      message: element("span", { class: "hint", id: "broadcast-message" }),
      avatar: element("div", { class: "field", id: "broadcast-avatar" }),
      voice: element("div", { class: "field", id: "broadcast-voice" }),
    };
    this.#ui = ui;
    this.avatar = new Picker(ui.avatar, "Avatar", () => {});
    this.voice = new Picker(ui.voice, "Voice", () => {});
    ui.text.value = "Hello everyone, and welcome to the show.";
    root.replaceChildren(
      element("h2", { class: "card-title", id: "broadcast-title", text: "Broadcast" }),
      element("div", { class: "when-idle" }, ui.outputs, element("div", { class: "pickers" }, ui.avatar, ui.voice)),
      element("div", { class: "actions" }, ui.message, element("span", { class: "when-idle" }, ui.add), ui.start, ui.stop),
      ui.states,
      ui.links,
      element("div", { class: "when-running" }, ui.text,
        element("div", { class: "actions" }, element("span", { class: "hint" }), ui.interrupt, ui.say)),
    );
    root.setAttribute("aria-labelledby", "broadcast-title");
    ui.add.addEventListener("click", () => this.#addRow());
    ui.start.addEventListener("click", () => this.#run(() => this.start()));
    ui.stop.addEventListener("click", () => this.#run(() => this.stop()));
    ui.say.addEventListener("click", () => this.#run(() => this.#steer("say", { text: ui.text.value })));
    ui.interrupt.addEventListener("click", () => this.#run(() => this.#steer("interrupt")));
    this.#addRow();
    this.#render();
  }

  /** Fills the pickers from /healthz. */
  async load() {
    const health = await fetchHealth();
    this.avatar.fill(health.avatars ?? [], health.default_avatar);
    this.voice.fill(health.voices ?? [], health.default_voice);
  }

  #addRow() {
    const row = new OutputRow((gone) => {
      this.#rows = this.#rows.filter((r) => r !== gone);
      gone.node.remove();
    });
    this.#rows.push(row);
    this.#ui.outputs.append(row.node);
    row.target.focus();
  }

  async #run(action) {
    this.#ui.message.textContent = "";
    try {
      await action();
    } catch (err) {
      this.#ui.message.textContent = err.message;
    }
  }

  async start() {
    const body = { outputs: this.#rows.map((row) => row.spec()) };
    if (this.avatar.value) body.avatar = this.avatar.value;
    if (this.voice.value) body.voice = this.voice.value;
    const created = await api("POST", "/v1/broadcasts", body);
    this.#id = created.id;
    this.#render();
    this.#links(created.id, body.outputs);
    this.#poll();
  }

  async stop() {
    const id = this.#id;
    clearTimeout(this.#timer);
    await api("DELETE", `/v1/broadcasts/${id}`);
    this.#id = null;
    this.#render();
    this.#ui.message.textContent = "Broadcast ended.";
  }

  #steer(route, body) {
    return api("POST", `/v1/broadcasts/${this.#id}/${route}`, body);
  }

  #links(id, outputs) {
    const links = [element("a", { href: withToken(`viewer.html?broadcast=${id}`), target: "_blank", text: "Watch (WHEP)" })];
    for (const spec of outputs.filter((s) => s.file)) {
      links.push(element("a", { href: withToken(`/v1/recordings/${encodeURIComponent(spec.file)}`), target: "_blank",
        text: `${spec.file} (once stopped)` }));
    }
    this.#ui.links.replaceChildren(...links);
  }

  async #poll() {
    const id = this.#id;
    if (id === null) return;
    try {
      this.#renderStates(await api("GET", `/v1/broadcasts/${id}`));
    } catch (err) {
      this.#ui.message.textContent = err.message;
    }
    if (this.#id === id) this.#timer = setTimeout(() => this.#poll(), POLL_MS);
  }

  #renderStates(broadcast) {
    const head = element("tr", {}, ...["Output", "State", "Frames", "Reconnects"].map((t) => element("th", { text: t })));
    const rows = broadcast.outputs.map((output) => {
      const state = element("span", { class: "output-state", "data-state": output.state, text: output.state });
      const detail = output.error ? element("div", { class: "hint", text: output.error }) : "";
      return element("tr", { "data-kind": output.kind },
        element("td", { text: `${output.kind} ${output.url ?? ""}` }),
        element("td", {}, state, detail),
        element("td", { text: String(output.frames_sent) }),
        element("td", { text: String(output.reconnects) }));
    });
    const viewers = element("tr", {}, element("td", { text: "WHEP viewers" }), element("td", { text: String(broadcast.viewers) }));
    this.#ui.states.replaceChildren(head, ...rows, viewers);
    this.#root.dataset.speaking = String(broadcast.speaking);
  }

  #render() {
    const running = this.#id !== null;
    this.#root.dataset.running = String(running);
    this.#ui.start.hidden = running;
    this.#ui.stop.hidden = !running;
    if (!running) this.#ui.states.replaceChildren();
  }
}

const slot = document.getElementById("broadcast-panel");
if (slot) {
  const panel = new BroadcastPanel(slot);
  panel.load().catch((err) => {
    document.getElementById("broadcast-message").textContent = err.message;
  });
}
