// Voice mode (docs/protocol.md, "Voice mode"): the microphone becomes the avatar's voice. The server sends the
// same voice back, delayed just enough for the face to move with it, so the page plays it like any other session.
//
// Switching mode means a new offer (the microphone travels on a sendrecv audio transceiver), so every change of
// the switch asks the page to reconnect.

const MICROPHONE = { audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true } };

export class VoiceSwitch {
  #input;
  #onChange;
  #onFailure;
  #track = null;

  /** `onChange()` runs after the microphone was opened or closed; `onFailure(code, message)` when it cannot open. */
  constructor(input, onChange, onFailure) {
    this.#input = input;
    this.#onChange = onChange;
    this.#onFailure = onFailure;
    input.addEventListener("change", () => this.#toggle());
  }

  /** True while the microphone is open and sessions should be offered in voice mode. */
  get on() {
    return this.#track !== null;
  }

  /** The microphone's audio track, or null in text mode. */
  get track() {
    return this.#track;
  }

  async #toggle() {
    if (this.#input.checked) {
      try {
        const stream = await navigator.mediaDevices.getUserMedia(MICROPHONE);
        this.#track = stream.getAudioTracks()[0];
      } catch (err) {
        this.#input.checked = false;
        this.#onFailure("microphone_failed", `Could not open the microphone: ${err.message}`);
        return;
      }
    } else {
      this.#track?.stop();
      this.#track = null;
    }
    this.#onChange();
  }
}
