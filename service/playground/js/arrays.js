// Nested-list arrays as the service sends them: numbers, the strings "NaN", "Infinity" and
// "-Infinity" for non-finite values (JSON has none), and lists of equal-shaped arrays.

const NON_FINITE = {"NaN": NaN, "Infinity": Infinity, "-Infinity": -Infinity};
export const MAX_INPUT_ELEMENTS = 100000;

/** A JSON leaf as a JS number (non-finite strings included), or undefined. */
export function toNumber(leaf) {
  if (typeof leaf === "number") return leaf;
  return typeof leaf === "string" && leaf in NON_FINITE ? NON_FINITE[leaf] : undefined;
}

/** The shape of a nested list, or throws an Error saying what is wrong with it. */
export function shapeOf(value) {
  if (!Array.isArray(value)) {
    if (toNumber(value) === undefined) throw new Error(`${JSON.stringify(value)} is not a number`);
    return [];
  }
  if (value.length === 0) return [0];
  const inner = shapeOf(value[0]);
  for (const item of value.slice(1)) {
    if (shapeOf(item).join() !== inner.join()) throw new Error("ragged: rows differ in shape");
  }
  return [value.length, ...inner];
}

export function size(shape) {
  return shape.reduce((n, d) => n * d, 1);
}

/** "()", "", "3", "2, 3", "(2, 3)" or "2x3" as a shape; throws on anything else. */
export function parseShape(text) {
  const inner = text.trim().replace(/^\(|\)$/g, "").trim();
  if (inner === "") return [];
  const parts = inner.split(/\s*[,x×]\s*|\s+/).filter((p) => p !== "");
  if (!parts.every((p) => /^\d+$/.test(p))) throw new Error("a shape is sizes: 3 or 2, 3");
  const shape = parts.map(Number);
  if (size(shape) > MAX_INPUT_ELEMENTS) throw new Error(`at most ${MAX_INPUT_ELEMENTS} elements here`);
  return shape;
}

export function formatShape(shape) {
  return shape.length === 1 ? `${shape[0]}` : `(${shape.join(", ")})`;
}

/** A value of `shape` from a flat list of numbers (C order). */
export function reshape(flat, shape) {
  if (shape.length === 0) return flat[0];
  const step = size(shape.slice(1));
  return Array.from({length: shape[0]}, (_, i) => reshape(flat.slice(i * step, (i + 1) * step), shape.slice(1)));
}

/** Default values for a new input: small, non-zero, unequal (sin(1), sin(2), ...), so
 *  log, 1/x and norm are defined and the entries tell apart in a matrix. */
export function sample(shape) {
  const flat = Array.from({length: size(shape)}, (_, i) => Math.round(Math.sin(i + 1) * 100) / 100);
  return reshape(flat, shape);
}

export function filled(shape, number) {
  return reshape(new Array(size(shape)).fill(number), shape);
}

/** All leaves in C order, as JS numbers. */
export function flatten(value) {
  return Array.isArray(value) ? value.flatMap(flatten) : [toNumber(value)];
}

/** Short, exact-enough text for a number: up to 6 significant digits. */
export function formatNumber(x) {
  if (Number.isNaN(x)) return "NaN";
  if (!Number.isFinite(x)) return x > 0 ? "Infinity" : "-Infinity";
  if (x === 0) return "0";
  const abs = Math.abs(x);
  if (abs >= 1e6 || abs < 1e-4) return x.toExponential(4).replace(/\.?0+e/, "e");
  return String(Number(x.toPrecision(6)));
}

/** Parse a value typed by the user: JSON numbers, nested lists and the non-finite strings. */
export function parseValue(text) {
  let value;
  try {
    value = JSON.parse(text.trim().replace(/(?<![\w"-])(-?)(NaN|Infinity)(?![\w"])/g, '"$1$2"'));
  } catch {
    throw new Error("not a number or a nested list, e.g. 0.5 or [1, 2, 3]");
  }
  return {value, shape: shapeOf(value)};
}
