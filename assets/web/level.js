// A live audio level of the remote stream, so a viewer sees that sound is arriving even with the tab muted.
//
// Chromium only feeds a remote WebRTC track into Web Audio while the stream also plays in a media element,
// which the page's <video> does. The AudioContext may start suspended under the autoplay policy; `resume()`
// is called again from the click that enables sound.

export class LevelMeter {
  #context = null;
  #analyser = null;
  #samples = null;
  #source = null;

  attach(stream) {
    this.detach();
    if (stream.getAudioTracks().length === 0) return;
    this.#context ??= new AudioContext();
    this.#analyser = this.#context.createAnalyser();
    this.#analyser.fftSize = 1024;
    this.#samples = new Float32Array(this.#analyser.fftSize);
    this.#source = this.#context.createMediaStreamSource(stream);
    this.#source.connect(this.#analyser);
    this.resume();
  }

  detach() {
    this.#source?.disconnect();
    this.#source = null;
    this.#analyser = null;
  }

  resume() {
    return this.#context?.state === "suspended" ? this.#context.resume() : Promise.resolve();
  }

  /** Root-mean-square level of the last ~20 ms, 0..1 (0 while nothing is attached). */
  rms() {
    if (!this.#analyser) return 0;
    this.#analyser.getFloatTimeDomainData(this.#samples);
    let sum = 0;
    for (const s of this.#samples) sum += s * s;
    return Math.sqrt(sum / this.#samples.length);
  }
}
