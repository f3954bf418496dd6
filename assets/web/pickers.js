// Avatar and voice pickers. The server lists its avatars and voices in /healthz; a server that does not gets a
// free text field instead, so any name the server knows can still be asked for.

/** Reads /healthz; failures are thrown so the page can show them. */
export async function fetchHealth() {
  const response = await fetch("/healthz", { cache: "no-store" });
  if (!response.ok) throw new Error(`/healthz answered HTTP ${response.status}`);
  return response.json();
}

function choiceName(item) {
  return typeof item === "string" ? item : item.name ?? item.id;
}

/** "piper:joe" reads as "joe (piper)", "grace_hopper" as "grace hopper". */
function choiceLabel(item) {
  if (typeof item !== "string") return item.label ?? item.description ?? choiceName(item);
  const [engine, name] = item.includes(":") ? item.split(/:(.*)/s) : [null, item];
  const readable = name.replaceAll("_", " ");
  return engine ? `${readable} (${engine})` : readable;
}

export class Picker {
  #slot;
  #label;
  #onChange;
  #control = null;

  /** `onChange(value)` runs when the user picks another value (not while filling). */
  constructor(slot, label, onChange) {
    this.#slot = slot;
    this.#label = label;
    this.#onChange = onChange;
  }

  /**
   * A select over `items` (strings or {name, label}) when there are any, else a text field.
   * `defaultName` is the server's own default, preselected so the picker shows what is playing.
   */
  fill(items, defaultName) {
    const id = `${this.#slot.id}-control`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = this.#label;
    const control = Array.isArray(items) && items.length > 0 ? this.#select(items, defaultName) : this.#textField();
    control.id = id;
    control.name = this.#slot.id;
    this.#control = control;
    this.#slot.replaceChildren(label, control);
  }

  /** The chosen name, or "" for the server's default. */
  get value() {
    return this.#control?.value.trim() ?? "";
  }

  #select(items, defaultName) {
    const select = document.createElement("select");
    const names = items.map(choiceName);
    if (!names.includes(defaultName)) {
      // The server did not say which is its default: name none until the user picks one. Once another is
      // chosen there is no way back to "no name" through `set`, so the placeholder cannot be re-selected.
      const placeholder = new Option("Server default", "", true, true);
      placeholder.disabled = true;
      select.append(placeholder);
    }
    select.append(...items.map((item) => new Option(choiceLabel(item), choiceName(item), false, choiceName(item) === defaultName)));
    select.addEventListener("change", () => this.#onChange(select.value));
    return select;
  }

  #textField() {
    const input = document.createElement("input");
    input.type = "text";
    input.placeholder = "server default";
    input.autocomplete = "off";
    input.spellcheck = false;
    input.addEventListener("change", () => {
      if (input.value.trim()) this.#onChange(input.value.trim());
    });
    return input;
  }
}
