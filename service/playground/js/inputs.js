// The inputs table: one row per program input (names from POST /v1/functions), with its
// shape, its value, whether to differentiate with respect to it (wrt), and its tangent v for
// hvp and jvp. Values are kept by name while the program is edited.

import {filled, formatShape, parseShape, parseValue, sample} from "./arrays.js";

/** A value as typed text: JSON with a space after each comma. */
function asText(value) {
  return JSON.stringify(value).replace(/,/g, ", ");
}

function field(className, text, label) {
  const input = document.createElement("input");
  input.className = className;
  input.value = text;
  input.spellcheck = false;
  input.setAttribute("aria-label", label);
  return input;
}

class Row {
  constructor(name, onChange) {
    this.name = name;
    this.wrt = document.createElement("input");
    this.wrt.type = "checkbox";
    this.wrt.checked = true;
    this.wrt.setAttribute("aria-label", `differentiate with respect to ${name}`);
    this.shape = field("shape", "()", `shape of ${name}`);
    this.value = field("value", asText(sample([])), `value of ${name}`);
    this.tangent = field("tangent", "1", `tangent v for ${name}`);
    this.problem = document.createElement("span");
    this.problem.className = "problem";
    this.element = this.build();
    this.shape.addEventListener("change", () => { this.reshape(); onChange(); });
    this.wrt.addEventListener("change", onChange);
    for (const input of [this.value, this.tangent]) {
      input.addEventListener("input", () => { this.check(); onChange(); });
    }
  }

  build() {
    const row = document.createElement("tr");
    row.dataset.input = this.name;
    const cells = [this.wrt, this.name, this.shape, [this.value, this.problem], this.tangent];
    cells.forEach((content, i) => {
      const cell = document.createElement("td");
      cell.append(...[content].flat());
      if (i === 1) cell.className = "name";
      if (i === 4) cell.className = "tangent-col";
      row.append(cell);
    });
    return row;
  }

  /** A new shape fills the value with sample numbers and the tangent with ones. */
  reshape() {
    try {
      const shape = parseShape(this.shape.value);
      this.value.value = asText(sample(shape));
      this.tangent.value = asText(filled(shape, 1));
      this.shape.value = formatShape(shape);
    } catch (error) {
      this.shape.classList.add("invalid");
      this.problem.textContent = error.message;
      return;
    }
    this.check();
  }

  /** Parse value and tangent; show the shape they have or what is wrong. */
  check() {
    this.shape.classList.remove("invalid");
    try {
      const {shape} = parseValue(this.value.value);
      this.shape.value = formatShape(shape);
      this.value.classList.remove("invalid");
      this.problem.textContent = "";
    } catch (error) {
      this.value.classList.add("invalid");
      this.problem.textContent = error.message;
    }
    let tangentOk = true;
    try { parseValue(this.tangent.value); } catch { tangentOk = false; }
    this.tangent.classList.toggle("invalid", !tangentOk);
  }

  set(value) {
    this.value.value = asText(value);
    this.tangent.value = asText(filled(parseValue(this.value.value).shape, 1));
    this.check();
  }
}

export class Inputs {
  constructor(tbody, onChange) {
    this.tbody = tbody;
    this.onChange = onChange;
    this.rows = new Map();  // name -> Row, kept across programs
    this.names = [];
  }

  /** Show the rows of `names` in order, keeping what was typed for names seen before. */
  sync(names) {
    this.names = [...names];
    for (const name of names) {
      if (!this.rows.has(name)) this.rows.set(name, new Row(name, this.onChange));
    }
    this.tbody.replaceChildren(...names.map((name) => this.rows.get(name).element));
  }

  /** Set values (and wrt) by name, e.g. from an example. */
  load(values, wrt) {
    for (const [name, value] of Object.entries(values)) {
      if (!this.rows.has(name)) this.rows.set(name, new Row(name, this.onChange));
      const row = this.rows.get(name);
      row.set(value);
      row.wrt.checked = !wrt || wrt.includes(name);
    }
  }

  showTangents(show) {
    this.tbody.closest("table").classList.toggle("with-tangent", show);
  }

  current() {
    return this.names.map((name) => this.rows.get(name));
  }

  /** {at, shapes, wrt, v} of the current rows; throws an Error naming a bad row. */
  read() {
    const at = {}, shapes = {}, v = {};
    for (const row of this.current()) {
      try {
        const parsed = parseValue(row.value.value);
        at[row.name] = parsed.value;
        shapes[row.name] = parsed.shape;
        v[row.name] = parseValue(row.tangent.value).value;
      } catch (error) {
        throw new Error(`input ${row.name}: ${error.message}`);
      }
    }
    const wrt = this.current().filter((row) => row.wrt.checked).map((row) => row.name);
    return {at, shapes, wrt, v};
  }
}
