// A Jacobian or Hessian result as one 2-D matrix for the pictures: blocks per wrt input
// (dense nested lists, or COO blocks {"format": "coo", "shape", "row", "col", "data"} with
// sparse: true) laid side by side, rows and columns labelled by flattened input entries.

import {flatten, size} from "./arrays.js";

export const MAX_CELLS = 250000;

function indexLabel(name, shape, k) {
  if (shape.length === 0) return name;
  const index = [];
  for (let axis = shape.length - 1; axis >= 0; axis -= 1) {
    index.unshift(k % shape[axis]);
    k = Math.floor(k / shape[axis]);
  }
  return `${name}[${index.join(",")}]`;
}

function labels(name, shape) {
  return Array.from({length: size(shape)}, (_, k) => indexLabel(name, shape, k));
}

/** One block as {rows, cols, entries: [[r, c, value], ...]} (dense: every entry). */
function blockEntries(block, rows, cols) {
  if (block && block.format === "coo") {
    const data = flatten(block.data);
    return {rows: block.shape[0], cols: block.shape[1],
            entries: block.row.map((r, k) => [r, block.col[k], data[k]])};
  }
  const flat = flatten(block);
  const entries = flat.map((value, k) => [Math.floor(k / cols), k % cols, value]);
  return {rows, cols, entries};
}

/** Blocks [[name_i, name_j, block], ...] as one matrix; null when it is too big to draw. */
function assemble(grid, rowLabels, colLabels, sparse) {
  const rows = rowLabels.length, cols = colLabels.length;
  if (rows * cols > MAX_CELLS) return null;
  const z = Array.from({length: rows}, () => new Array(cols).fill(sparse ? null : 0));
  const stored = [];
  for (const {block, r0, c0, m, n} of grid) {
    for (const [r, c, value] of blockEntries(block, m, n).entries) {
      z[r0 + r][c0 + c] = Number.isFinite(value) ? value : null;
      stored.push([r0 + r, c0 + c]);
    }
  }
  return {z, rowLabels, colLabels, stored, sparse};
}

/** The Jacobian or Hessian of `result` as a matrix, or null when it holds neither.
 *  `shapes` are the inputs' shapes; `outShape` the result's. */
export function resultMatrix(result, shapes, outShape) {
  const out = labels("f", outShape);
  if (result.jacobian) {
    const names = Object.keys(result.jacobian);
    const grid = [];
    let c0 = 0;
    for (const name of names) {
      const n = size(shapes[name]);
      grid.push({block: result.jacobian[name], r0: 0, c0, m: out.length, n});
      c0 += n;
    }
    const cols = names.flatMap((name) => labels(name, shapes[name]));
    return assemble(grid, out, cols, isSparse(result.jacobian));
  }
  if (result.hessian && out.length === 1) {  // one Hessian per output entry: numbers only
    const names = Object.keys(result.hessian);
    const offsets = {};
    let total = 0;
    for (const name of names) { offsets[name] = total; total += size(shapes[name]); }
    const grid = names.flatMap((xi) => names.map((xj) => ({
      block: result.hessian[xi][xj], r0: offsets[xi], c0: offsets[xj],
      m: size(shapes[xi]), n: size(shapes[xj]),
    })));
    const axis = names.flatMap((name) => labels(name, shapes[name]));
    return assemble(grid, axis, axis, isSparse(result.hessian));
  }
  return null;
}

function isSparse(blocks) {
  let node = Object.values(blocks)[0];
  while (node && typeof node === "object" && !Array.isArray(node) && node.format !== "coo") {
    node = Object.values(node)[0];  // hessian[xi] -> hessian[xi][xj]
  }
  return Boolean(node && node.format === "coo");
}
