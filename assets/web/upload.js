// "Upload a photo": a photo and a name go to POST /v1/avatars (docs/protocol.md, "Avatars"); the server answers
// once the new avatar is ready, or refuses with a documented code and a message, shown here as it is.

import { authHeaders, refusal } from "./whep.js";

export class AvatarUpload {
  #form;
  #status;
  #token;
  #onReady;

  /** `onReady(name)` runs with the new avatar's name once the server has it. */
  constructor(form, token, onReady) {
    this.#form = form;
    this.#status = form.querySelector(".upload-status");
    this.#token = token;
    this.#onReady = onReady;
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.#upload();
    });
  }

  async #upload() {
    const photo = this.#form.elements.photo.files[0];
    const name = this.#form.elements.name.value.trim();
    if (!photo) return this.#show("error", "Choose a photo first.");
    const body = new FormData();
    body.append("name", name);
    body.append("photo", photo, photo.name);
    const button = this.#form.querySelector("button");
    button.disabled = true;
    this.#show("busy", "Preparing the avatar…");
    try {
      const response = await fetch("/v1/avatars", { method: "POST", body, headers: authHeaders(this.#token) });
      if (!response.ok) return this.#show("error", await refusal(response));
      const made = await response.json();
      this.#show("done", `Avatar "${made.name}" is ready.`);
      this.#form.reset();
      await this.#onReady(made.name);
    } catch (err) {
      this.#show("error", `The upload failed: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  #show(kind, text) {
    this.#status.dataset.kind = kind;
    this.#status.textContent = text;
  }
}
