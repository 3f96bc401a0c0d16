// Pictures of the function, computed with batched requests (one request for all the points
// of an interval or a grid, never one per point):
// * one scalar wrt input: f, f' and f'' over an interval (jacobian and hessian, batched);
// * two scalar wrt inputs, or one of shape (2,): a contour map of f with ∇f arrows (one
//   batched gradient over the grid) and the Hessian's eigen-directions at the point.
// Inputs not chosen as wrt keep their values, shared by every point.

import {post} from "./api.js";
import {flatten} from "./arrays.js";
import * as plots from "./plots.js";

const CURVE_POINTS = 241;
const GRID = 45;
const ARROWS = 11;

function linspace(lo, hi, n) {
  return Array.from({length: n}, (_, i) => lo + ((hi - lo) * i) / (n - 1));
}

/** Which picture fits the wrt inputs: {kind, ...} or {kind: null, reason}. */
export function pictureKind({shapes, wrt}) {
  const dims = wrt.map((name) => shapes[name]);
  if (wrt.length === 1 && dims[0].length === 0) return {kind: "curves", name: wrt[0]};
  if (wrt.length === 2 && dims.every((shape) => shape.length === 0)) {
    return {kind: "contour", names: wrt, coordinates: wrt.map((name) => ({name}))};
  }
  if (wrt.length === 1 && dims[0].length === 1 && dims[0][0] === 2) {
    const name = wrt[0];
    return {kind: "contour", names: [`${name}[0]`, `${name}[1]`],
            coordinates: [{name, index: 0}, {name, index: 1}]};
  }
  return {kind: null, reason: "Plots of f need one scalar wrt input (curves of f, f′, f″) or two "
    + "(a contour map); tick the wrt boxes, or set a vector's shape to 2."};
}

/** Per-point arrays for a batch: {x: [...]} or {x: [[a, b], ...]} for a vector input. */
function batchedAt(at, coordinates, columns) {
  const batched = {...at};
  if (coordinates.length === 2 && coordinates[0].name === coordinates[1].name) {
    batched[coordinates[0].name] = columns[0].map((a, k) => [a, columns[1][k]]);
  } else {
    coordinates.forEach(({name}, c) => { batched[name] = columns[c]; });
  }
  return batched;
}

function components(values, points) {
  const flat = flatten(values);
  const per = flat.length / points;
  return Array.from({length: per}, (_, k) => Array.from({length: points}, (_, i) => flat[i * per + k]));
}

async function drawCurves(element, {program, inputs, signal, interval}, {name}) {
  const [lo, hi] = interval;
  const xs = linspace(lo, hi, CURVE_POINTS);
  const body = {program, at: {...inputs.at, [name]: xs}, batch: [name], wrt: [name]};
  const [first, second] = await Promise.all([post("v1/jacobian", body, signal),
                                             post("v1/hessian", body, signal)]);
  const series = [components(first.value, xs.length), components(first.jacobian[name], xs.length),
                  components(second.hessian[name][name], xs.length)];
  const count = series[0].length;
  if (count > plots.MAX_COMPONENTS) {
    series.forEach((s, r) => { series[r] = s.slice(0, plots.MAX_COMPONENTS); });
  }
  const labels = count === 1 ? ["f"] : series[0].map((_, k) => `[${k}]`);
  await plots.curves(element, {x: xs, name, series, labels, point: flatten(inputs.at[name])[0]});
  return count > plots.MAX_COMPONENTS ? `The first ${plots.MAX_COMPONENTS} of ${count} result entries.` : "";
}

function pointOf(at, coordinates) {
  return coordinates.map(({name, index}) => flatten(at[name])[index ?? 0]);
}

/** The 2×2 Hessian at the point from hessian[xi][xj] blocks. */
function hessian2(result, coordinates) {
  const [a, b] = coordinates;
  if (a.name === b.name) return flatten(result.hessian[a.name][a.name]);
  const h = result.hessian;
  return [h[a.name][a.name], h[a.name][b.name], h[b.name][a.name], h[b.name][b.name]].map((v) => flatten(v)[0]);
}

/** Eigenpairs of a symmetric 2×2 matrix [p, q; q, r], closed form. */
function eigen2([p, q, , r]) {
  const mean = (p + r) / 2, radius = Math.hypot((p - r) / 2, q);
  const angle = 0.5 * Math.atan2(2 * q, p - r);
  const first = [Math.cos(angle), Math.sin(angle)];
  return [{lambda: mean + radius, vector: first}, {lambda: mean - radius, vector: [-first[1], first[0]]}];
}

function arrowPath(xs, ys, gradient) {
  const path = {x: [], y: [], size: []};
  const step = Math.max(1, Math.round(GRID / ARROWS));
  const length = 0.8 * (xs[step] - xs[0]);
  for (let j = step >> 1; j < ys.length; j += step) {
    for (let i = step >> 1; i < xs.length; i += step) {
      const [gx, gy] = gradient[j * xs.length + i];
      const norm = Math.hypot(gx, gy);
      if (!(norm > 0) || !Number.isFinite(norm)) continue;
      path.x.push(xs[i], xs[i] + (length * gx) / norm, null);
      path.y.push(ys[j], ys[j] + (length * gy) / norm, null);
      path.size.push(0, 8, 0);
    }
  }
  return path;
}

async function drawContour(element, {program, inputs, signal, halfWidth}, {names, coordinates}) {
  const point = pointOf(inputs.at, coordinates);
  const xs = linspace(point[0] - halfWidth, point[0] + halfWidth, GRID);
  const ys = linspace(point[1] - halfWidth, point[1] + halfWidth, GRID);
  const columns = [ys.flatMap(() => xs), ys.flatMap((y) => xs.map(() => y))];
  const wrt = [...new Set(coordinates.map(({name}) => name))];
  const grid = {program, at: batchedAt(inputs.at, coordinates, columns), batch: wrt, wrt};
  const [field, local] = await Promise.all([
    post("v1/gradient", grid, signal), post("v1/hessian", {program, at: inputs.at, wrt}, signal)]);
  const values = flatten(field.value);
  const parts = wrt.map((name) => flatten(field.gradient[name]));
  const gradient = values.map((_, k) => (parts.length === 2 ? [parts[0][k], parts[1][k]]
    : [parts[0][2 * k], parts[0][2 * k + 1]]));
  const z = ys.map((_, j) => values.slice(j * xs.length, (j + 1) * xs.length));
  const eigen = eigen2(hessian2(local, coordinates)).map((pair) => ({...pair, half: 0.45 * halfWidth}));
  await plots.contour(element, {xs, ys, z, arrows: arrowPath(xs, ys, gradient), point, eigen, names});
  return "";
}

/** Draw the picture `kind` calls for; resolves to a note for the caption. */
export function drawFunction(element, kind, context) {
  if (kind.kind === "curves") return drawCurves(element, context, kind);
  if (kind.kind === "contour") return drawContour(element, context, kind);
  return Promise.resolve(kind.reason);
}
