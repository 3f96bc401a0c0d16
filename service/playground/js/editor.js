// The program editor: a plain textarea over a backdrop of the same text, in which the
// token at an error's line and column is wrapped in a <mark> drawn with a wavy underline.
// Both layers share font, padding and scroll offsets, so the mark sits under the token.

const IDENTIFIER = /[A-Za-z0-9_.]/;

/** UTF-16 offsets [start, end) of the token at a 1-based line and column counted in code
 *  points (the service's positions, SPEC §2.5), clamped to the text. */
export function tokenRange(text, line, column) {
  const lines = text.split("\n");
  const row = Math.min(Math.max(line, 1), lines.length) - 1;
  let start = lines.slice(0, row).reduce((n, l) => n + l.length + 1, 0);
  const points = Array.from(lines[row]);
  const before = points.slice(0, Math.max(column - 1, 0));
  start += before.join("").length;
  const rest = points.slice(before.length);
  if (rest.length === 0) return {row, start, end: start};  // past the end of the line
  let count = 1;
  if (IDENTIFIER.test(rest[0])) {
    while (count < rest.length && /[A-Za-z0-9_]/.test(rest[count])) count += 1;
  }
  return {row, start, end: start + rest.slice(0, count).join("").length};
}

export class Editor {
  constructor({textarea, backdrop, gutter, onChange, delay = 350}) {
    this.textarea = textarea;
    this.backdrop = backdrop;
    this.gutter = gutter;
    this.problem = null;
    let timer = 0;
    textarea.addEventListener("input", () => {
      this.problem = null;  // positions move as the text changes: drop the old mark
      this.render();
      clearTimeout(timer);
      timer = setTimeout(() => onChange(this.text), delay);
    });
    textarea.addEventListener("scroll", () => this.syncScroll());
  }

  get text() {
    return this.textarea.value;
  }

  set text(value) {
    this.textarea.value = value;
    this.problem = null;
    this.render();
  }

  /** Underline the token at `problem.line`, `problem.column` (or clear with null). */
  mark(problem) {
    this.problem = problem && problem.positioned ? problem : null;
    this.render();
  }

  /** Put the caret at the marked position. */
  focusProblem() {
    if (!this.problem) return;
    const {start, end} = tokenRange(this.text, this.problem.line, this.problem.column);
    this.textarea.focus();
    this.textarea.setSelectionRange(start, end);
  }

  render() {
    const text = this.text;
    const count = text.split("\n").length;
    const range = this.problem && tokenRange(text, this.problem.line, this.problem.column);
    this.gutter.replaceChildren(...Array.from({length: count}, (_, i) => {
      const number = document.createElement("div");
      number.textContent = String(i + 1);
      if (range && range.row === i) number.className = "error-line";
      return number;
    }));
    this.backdrop.replaceChildren(...(range ? this.marked(text, range) : [text]), "\n\n");
    this.syncScroll();
  }

  marked(text, {start, end}) {
    const mark = document.createElement("mark");
    mark.textContent = end > start ? text.slice(start, end) : " ";  // a mark past the end
    mark.dataset.line = String(this.problem.line);
    mark.dataset.column = String(this.problem.column);
    return [text.slice(0, start), mark, text.slice(end)];
  }

  syncScroll() {
    this.backdrop.scrollTop = this.textarea.scrollTop;
    this.backdrop.scrollLeft = this.textarea.scrollLeft;
    this.gutter.scrollTop = this.textarea.scrollTop;
  }
}
