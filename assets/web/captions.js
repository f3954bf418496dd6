// Live captions from `word` events, highlighting the word being heard.
//
// Word times count from the utterance's first sample, and `speech_started` says that sample is being sent now;
// the listener hears it one playout delay later (network plus jitter buffer), so highlights are shifted by the
// delay the stats panel measures, taken once per utterance so its words keep their spacing.

export class Captions {
  #container;
  #playoutDelayMs;
  #line = null;
  #utterance = null;
  #origin = 0;
  #current = null;
  #timers = new Set();
  #pending = new Set();

  /** `playoutDelayMs` is a function returning the current audio playout delay estimate in milliseconds. */
  constructor(container, playoutDelayMs) {
    this.#container = container;
    this.#playoutDelayMs = playoutDelayMs;
  }

  speechStarted(utterance) {
    this.#startLine(utterance, performance.now());
  }

  word({ utterance, text, start_ms: startMs, end_ms: endMs }) {
    if (utterance !== this.#utterance) {
      // A word for an utterance whose start we missed: assume its first sample went out just now.
      this.#startLine(utterance, performance.now() - startMs);
    }
    const span = document.createElement("span");
    span.className = "word";
    span.textContent = text;
    this.#line.append(span, " ");
    this.#pending.add(span);
    this.#at(this.#origin + startMs, () => {
      if (this.#current) this.#markSpoken(this.#current);
      this.#current = span;
      span.classList.add("is-current");
      this.#keepInView(span);
    });
    this.#at(this.#origin + endMs, () => this.#markSpoken(span));
  }

  /** On an interrupted utterance the words not yet heard are struck through, the rest play out as scheduled. */
  speechEnded({ utterance, interrupted }) {
    if (utterance !== this.#utterance || !interrupted) return;
    this.#cancelTimers();
    for (const span of this.#pending) {
      span.classList.remove("is-current");
      span.classList.add("is-unspoken");
    }
    this.#pending.clear();
    this.#line.classList.add("is-interrupted");
  }

  clear() {
    this.#cancelTimers();
    this.#pending.clear();
    this.#container.replaceChildren();
    this.#line = null;
    this.#utterance = null;
    this.#current = null;
  }

  #startLine(utterance, startedAt) {
    this.clear();
    this.#utterance = utterance;
    this.#origin = startedAt + this.#playoutDelayMs();
    this.#line = document.createElement("p");
    this.#line.className = "caption-line";
    this.#line.dataset.utterance = String(utterance);
    this.#container.append(this.#line);
  }

  #markSpoken(span) {
    span.classList.remove("is-current");
    span.classList.add("is-spoken");
    this.#pending.delete(span);
    if (this.#current === span) this.#current = null;
  }

  /** Long utterances scroll inside the caption box, keeping the word being heard on its last visible lines. */
  #keepInView(span) {
    const box = this.#container;
    const bottom = span.offsetTop + span.offsetHeight;
    if (bottom > box.scrollTop + box.clientHeight || span.offsetTop < box.scrollTop) {
      box.scrollTop = bottom - box.clientHeight + parseFloat(getComputedStyle(box).paddingBottom);
    }
  }

  #at(when, action) {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      action();
    }, Math.max(0, when - performance.now()));
    this.#timers.add(timer);
  }

  #cancelTimers() {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers.clear();
  }
}
