// Results as numbers: one row per result array (value, gradient[x], hessian[x][y], ...),
// matrices in aligned rows, long arrays shortened (the full JSON is one click away).

import {flatten, formatNumber, shapeOf} from "./arrays.js";

const MAX_SHOWN = 400;
const SKIPPED = new Set(["id", "meta"]);

function isCoo(node) {
  return node !== null && typeof node === "object" && node.format === "coo";
}

/** [label, leaf] pairs: `gradient[x]`, `hessian[x][y]`; a COO block counts as a leaf. */
export function leaves(result) {
  const found = [];
  const walk = (label, node) => {
    if (node !== null && typeof node === "object" && !Array.isArray(node) && !isCoo(node)) {
      for (const [key, child] of Object.entries(node)) walk(`${label}[${key}]`, child);
    } else {
      found.push([label, node]);
    }
  };
  for (const [key, node] of Object.entries(result)) {
    if (!SKIPPED.has(key)) walk(key, node);
  }
  return found;
}

function formatMatrix(numbers, columns) {
  const width = Math.max(...numbers.map((n) => n.length));
  const rows = [];
  for (let i = 0; i < numbers.length; i += columns) {
    rows.push(numbers.slice(i, i + columns).map((n) => n.padStart(width)).join("  "));
  }
  return rows.join("\n");
}

/** Leading indices of the k-th 2-D slice of an array of `shape`: "[1, 0, :, :]". */
function sliceLabel(shape, k) {
  const lead = shape.slice(0, -2), index = [];
  for (let axis = lead.length - 1; axis >= 0; axis -= 1) {
    index.unshift(k % lead[axis]);
    k = Math.floor(k / lead[axis]);
  }
  return `[${[...index, ":", ":"].join(", ")}]`;
}

function formatDense(value) {
  const shape = shapeOf(value);
  const numbers = flatten(value).map(formatNumber);
  if (numbers.length > MAX_SHOWN) {
    return `shape (${shape.join(", ")}), ${numbers.length} numbers; first ${MAX_SHOWN}:\n`
      + numbers.slice(0, MAX_SHOWN).join(", ") + ", …";
  }
  if (shape.length === 0) return numbers[0];
  if (shape.length === 1) return `[${numbers.join(", ")}]`;
  const columns = shape[shape.length - 1];
  if (shape.length === 2) return formatMatrix(numbers, columns);
  const step = columns * shape[shape.length - 2];
  const slices = [];
  for (let k = 0; k * step < numbers.length; k += 1) {
    slices.push(`${sliceLabel(shape, k)}\n${formatMatrix(numbers.slice(k * step, (k + 1) * step), columns)}`);
  }
  return `shape (${shape.join(", ")})\n${slices.join("\n")}`;
}

function formatCoo(block) {
  const data = flatten(block.data);
  const stored = block.row.length;
  const entries = block.row.slice(0, 60).map(
    (r, k) => `(${r}, ${block.col[k]}) ${formatNumber(data[k])}`);
  return `COO ${block.shape.join(" × ")}, ${stored} stored:\n${entries.join("\n")}`
    + (stored > 60 ? "\n…" : "");
}

export function describeMeta(meta) {
  if (!meta) return "";
  const compile = meta.cache === "hit" ? "cached kernel" : `compiled in ${meta.compile_ms} ms`;
  const text = `${compile} · ran in ${meta.run_ms} ms · ${formatNumber(meta.flops)} flops`;
  const coloring = meta.coloring;  // sparse results: how many derivative passes it took
  return coloring ? `${text} · ${coloring.mode} colouring, ${coloring.colors} colours` : text;
}

/** Fill `element` with a table of the result's arrays. */
export function showResult(element, result) {
  const table = document.createElement("table");
  for (const [label, leaf] of leaves(result)) {
    const row = table.insertRow();
    const head = document.createElement("th");
    head.textContent = label;
    const cell = row.insertCell();
    cell.textContent = isCoo(leaf) ? formatCoo(leaf) : formatDense(leaf);
    row.prepend(head);
  }
  element.replaceChildren(table);
}

/** A problem in place of the result: title, message and hint. */
export function showProblem(element, problem) {
  const box = document.createElement("div");
  box.className = "problem";
  const where = problem.positioned ? ` at line ${problem.line}, column ${problem.column}` : "";
  box.textContent = `${problem.status || ""} ${problem.kind}${where}: ${problem.message}`
    + (problem.hint ? `\nhint: ${problem.hint}` : "");
  element.replaceChildren(box);
}
