// What the page tells the viewer besides the video: error notices (kept until dismissed, never swallowed),
// the event log, and the stats panel.

const MAX_ERRORS = 4;
const MAX_LOG_ENTRIES = 60;

export class ErrorList {
  #container;

  constructor(container) {
    this.#container = container;
  }

  show(code, message) {
    const item = document.createElement("div");
    item.className = "error";
    item.dataset.code = code;
    item.setAttribute("role", "alert");
    const text = document.createElement("p");
    const title = document.createElement("strong");
    title.textContent = code;
    text.append(title, ` ${message}`);
    const dismiss = document.createElement("button");
    dismiss.type = "button";
    dismiss.className = "error-dismiss";
    dismiss.setAttribute("aria-label", "Dismiss");
    dismiss.textContent = "×";
    dismiss.addEventListener("click", () => item.remove());
    item.append(text, dismiss);
    this.#container.append(item);
    while (this.#container.children.length > MAX_ERRORS) this.#container.firstElementChild.remove();
  }
}

export class EventLog {
  #list;

  constructor(list) {
    this.#list = list;
  }

  add(kind, text) {
    const item = document.createElement("li");
    item.dataset.kind = kind;
    const time = document.createElement("time");
    time.textContent = `${(performance.now() / 1000).toFixed(2)} s`;
    const body = document.createElement("span");
    body.textContent = text;
    item.append(time, body);
    this.#list.prepend(item);
    while (this.#list.children.length > MAX_LOG_ENTRIES) this.#list.lastElementChild.remove();
  }
}

const FORMATS = {
  fps: (s) => (s.fps == null ? null : `${s.fps.toFixed(1)} fps`),
  framesDropped: (s) => (s.framesDropped == null ? null : String(s.framesDropped)),
  videoBufferMs: (s) => (s.videoBufferMs == null ? null : `${Math.round(s.videoBufferMs)} ms`),
  audioBufferMs: (s) => (s.audioBufferMs == null ? null : `${Math.round(s.audioBufferMs)} ms`),
  roundTripMs: (s) => (s.roundTripMs == null ? null : `${s.roundTripMs.toFixed(1)} ms`),
  speechLatencyMs: (s) => (s.speechLatencyMs == null ? null : `${Math.round(s.speechLatencyMs)} ms`),
  resolution: (s) => (s.width ? `${s.width}×${s.height}` : null),
  bitrateKbps: (s) => (s.bitrateKbps == null ? null : `${Math.round(s.bitrateKbps)} kbit/s`),
};

/** Writes the numbers it is given into the panel, leaving the others as they are. */
export class StatsView {
  #cells;

  constructor(panel) {
    this.#cells = new Map([...panel.querySelectorAll("[data-stat]")].map((dd) => [dd.dataset.stat, dd]));
  }

  update(sample) {
    for (const [name, format] of Object.entries(FORMATS)) {
      if (!(name in sample) && !(name === "resolution" && "width" in sample)) continue;
      this.#cells.get(name).textContent = format(sample) ?? "–";
    }
  }

  clear() {
    for (const cell of this.#cells.values()) cell.textContent = "–";
  }
}
