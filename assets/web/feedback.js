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

/** A cell that shows `field` of a sample with `digits` decimals and a unit. */
const number = (field, unit = "", digits = 0) => ({
  field,
  format: (sample) => `${sample[field].toFixed(digits)}${unit}`,
});

// Cell name (data-stat) -> the sample field it follows and how it reads.
const CELLS = {
  fps: number("fps", " fps", 1),
  framesDropped: number("framesDropped"),
  videoBufferMs: number("videoBufferMs", " ms"),
  audioBufferMs: number("audioBufferMs", " ms"),
  roundTripMs: number("roundTripMs", " ms", 1),
  speechLatencyMs: number("speechLatencyMs", " ms"),
  resolution: { field: "width", format: (sample) => `${sample.width}×${sample.height}` },
  bitrateKbps: number("bitrateKbps", " kbit/s"),
  packetsLost: number("packetsLost"),
  codec: { field: "codec", format: (sample) => sample.codec },
};

/** Writes the numbers it is given into the panel, leaving the others as they are. */
export class StatsView {
  #cells;

  constructor(panel) {
    this.#cells = new Map([...panel.querySelectorAll("[data-stat]")].map((dd) => [dd.dataset.stat, dd]));
  }

  update(sample) {
    for (const [name, { field, format }] of Object.entries(CELLS)) {
      if (field in sample) this.#cells.get(name).textContent = sample[field] == null ? "–" : format(sample);
    }
  }

  clear() {
    for (const cell of this.#cells.values()) cell.textContent = "–";
  }
}
