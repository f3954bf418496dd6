// "Stream" mode: sends a text the way an LLM streams it, a few characters at a time, then `flush`,
// so anyone can watch the avatar start speaking before the text is complete.

const MIN_GAP_MS = 30;
const MAX_GAP_MS = 60;

/** Token-sized pieces: a run of up to four non-space characters with the spaces before it. */
export function splitIntoDeltas(text) {
  return text.match(/\s*\S{1,4}|\s+$/g) ?? [];
}

export class DeltaStreamer {
  #send;
  #onProgress;
  #timer = null;
  #finish = null;

  /**
   * `send(message)` sends one protocol message and returns whether it went out;
   * `onProgress(sentChars, totalChars)` follows the stream (for the progress bar).
   */
  constructor(send, onProgress) {
    this.#send = send;
    this.#onProgress = onProgress;
  }

  get active() {
    return this.#timer !== null;
  }

  /** Streams `text` as deltas carrying `id`; resolves true once flushed, false when cancelled or not sent. */
  stream(text, id) {
    this.cancel();
    const deltas = splitIntoDeltas(text);
    let index = 0;
    let sent = 0;
    return new Promise((resolve) => {
      this.#finish = resolve;
      const step = () => {
        if (index === deltas.length) {
          this.#end(this.#send({ type: "flush" }));
          return;
        }
        const delta = deltas[index++];
        if (!this.#send({ type: "text", text: delta, id })) {
          this.#end(false);
          return;
        }
        sent += delta.length;
        this.#onProgress(sent, text.length);
        this.#timer = setTimeout(step, MIN_GAP_MS + Math.random() * (MAX_GAP_MS - MIN_GAP_MS));
      };
      this.#timer = setTimeout(step, 0);
    });
  }

  /** Stops sending (on interrupt); the server drops what it already has on the `interrupt` itself. */
  cancel() {
    if (this.#timer !== null) this.#end(false);
  }

  #end(flushed) {
    clearTimeout(this.#timer);
    this.#timer = null;
    const finish = this.#finish;
    this.#finish = null;
    finish?.(flushed);
  }
}
