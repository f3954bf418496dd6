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

function choiceLabel(item) {
  return typeof item === "string" ? item : item.label ?? item.description ?? choiceName(item);
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

  /** A select over `items` (strings or {name, label}) when there are any, else a text field. */
  fill(items) {
    const id = `${this.#slot.id}-control`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = this.#label;
    const control = Array.isArray(items) && items.length > 0 ? this.#select(items) : this.#textField();
    control.id = id;
    control.name = this.#slot.id;
    this.#control = control;
    this.#slot.replaceChildren(label, control);
  }

  /** The chosen name, or "" for the server's default. */
  get value() {
    return this.#control?.value.trim() ?? "";
  }

  #select(items) {
    const select = document.createElement("select");
    // The server's default is whatever it picks when no name is sent; once another is chosen there is no way
    // back to "no name" through `set`, so the placeholder cannot be re-selected.
    const placeholder = new Option("Server default", "", true, true);
    placeholder.disabled = true;
    select.append(placeholder, ...items.map((item) => new Option(choiceLabel(item), choiceName(item))));
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
