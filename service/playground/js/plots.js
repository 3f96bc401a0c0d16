// Plotly figures (plotly.js from the `plotly` Python package, served by the app): curves of
// f, f' and f'', a contour map with gradient arrows and Hessian eigen-directions, and a
// heat map and a spy plot of a matrix. Each takes plain arrays and draws into an element.

import {formatNumber} from "./arrays.js";

const Plotly = window.Plotly;
const FONT = {family: 'system-ui, "DejaVu Sans", "Liberation Sans", sans-serif', size: 12, color: "#1b2430"};
const COLORS = ["#2563a8", "#dd6b20", "#2e7d4f", "#8e44ad", "#c0392b", "#16a085"];
const CONFIG = {responsive: true, displaylogo: false,
                modeBarButtonsToRemove: ["select2d", "lasso2d", "autoScale2d", "toggleSpikelines"]};
const CURVATURE = {up: "#2e7d4f", down: "#c62828"};
export const MAX_COMPONENTS = COLORS.length;

function base(extra) {
  return {font: FONT, paper_bgcolor: "#ffffff", plot_bgcolor: "#ffffff",
          margin: {l: 64, r: 24, t: 28, b: 48}, showlegend: true,
          legend: {orientation: "h", x: 0, y: 1.08}, ...extra};
}

function draw(element, data, layout) {
  element.hidden = false;
  element.style.height = layout.height ? `${layout.height}px` : "";
  return Plotly.react(element, data, layout, CONFIG);
}

export function clear(element) {
  element.hidden = true;
  Plotly.purge(element);
}

/** f, f' and f'' over an interval, stacked with a shared axis. `series` holds, for each of
 *  the three, one array of values per output component; `labels` name the components. */
export function curves(element, {x, name, series, labels, point}) {
  const rows = [["f", 0.7, 1], ["f′", 0.36, 0.64], ["f″", 0, 0.3]];
  const single = labels.length === 1;  // then f, f' and f'' take a colour each
  const data = [];
  rows.forEach(([title], r) => {
    series[r].forEach((y, k) => data.push({
      x, y, type: "scatter", mode: "lines", xaxis: "x", yaxis: r ? `y${r + 1}` : "y",
      name: single ? title : `${title} ${labels[k]}`, showlegend: single || r === 0,
      line: {color: COLORS[(single ? r : k) % COLORS.length], width: 2, dash: single ? "solid" : ["solid", "dash", "dot"][r]},
      legendgroup: single ? title : labels[k], hovertemplate: `${name} = %{x:.4g}<br>${title} = %{y:.6g}<extra></extra>`,
    }));
  });
  const layout = base({hovermode: "x unified",
                       xaxis: {title: {text: name}, anchor: "y3", zeroline: false}});
  rows.forEach(([title, lo, hi], r) => {
    layout[r ? `yaxis${r + 1}` : "yaxis"] = {domain: [lo, hi], zeroline: true, zerolinecolor: "#c6ced8",
                                             gridcolor: "#eef1f5", title: {text: title, font: {size: 14}}};
  });
  layout.shapes = [{type: "line", xref: "x", yref: "paper", x0: point, x1: point, y0: 0, y1: 1,
                    line: {color: "#8a96a3", width: 1, dash: "dot"}}];
  return draw(element, data, layout);
}

/** Values spanning several decades are drawn as log10(1 + f - min f), so the contours do
 *  not all crowd into one corner; hovering still shows f itself. */
function contourLevels(z) {
  const values = z.flat().filter(Number.isFinite).sort((a, b) => a - b);
  if (values.length === 0) return {shown: z, title: "f"};
  const low = values[0], median = values[values.length >> 1], high = values[values.length - 1];
  if (high - low <= 30 * Math.max(median - low, 1e-12)) return {shown: z, title: "f"};
  const shown = z.map((row) => row.map((v) => (Number.isFinite(v) ? Math.log10(1 + v - low) : null)));
  return {shown, title: `log₁₀(1 + f − ${formatNumber(low)})`};
}

/** A contour map of f on a grid, ∇f as arrows (direction only; lengths are equal), and the
 *  eigen-directions of the Hessian at the point, coloured by the sign of the curvature. */
export function contour(element, {xs, ys, z, arrows, point, eigen, names}) {
  const {shown, title} = contourLevels(z);
  const data = [{
    type: "contour", x: xs, y: ys, z: shown, customdata: z, colorscale: "Viridis",
    contours: {coloring: "heatmap", showlines: true}, line: {width: 0.6, color: "rgba(255,255,255,0.45)"},
    colorbar: {title: {text: title, side: "right"}, thickness: 14}, ncontours: 24, showlegend: false,
    hovertemplate: `${names[0]} = %{x:.4g}<br>${names[1]} = %{y:.4g}<br>f = %{customdata:.6g}<extra></extra>`,
  }, {
    type: "scatter", mode: "lines+markers", name: "∇f direction", x: arrows.x, y: arrows.y,
    line: {color: "rgba(255,255,255,0.9)", width: 1.4}, hoverinfo: "skip",
    marker: {symbol: "arrow", angleref: "previous", size: arrows.size, color: "rgba(255,255,255,0.95)"},
  }];
  for (const {vector, lambda, half} of eigen) {
    const up = lambda >= 0;
    data.push({
      type: "scatter", mode: "lines", x: [point[0] - half * vector[0], point[0] + half * vector[0]],
      y: [point[1] - half * vector[1], point[1] + half * vector[1]],
      name: `Hessian eigenvector, λ = ${formatNumber(lambda)} (${up ? "curves up" : "curves down"})`,
      line: {color: up ? CURVATURE.up : CURVATURE.down, width: 4}, hoverinfo: "name",
    });
  }
  data.push({type: "scatter", mode: "markers", name: "the point", x: [point[0]], y: [point[1]],
             marker: {size: 11, color: "#ffffff", line: {color: "#1b2430", width: 2}},
             hovertemplate: `(%{x:.4g}, %{y:.4g})<extra>the point</extra>`});
  const layout = base({
    xaxis: {title: {text: names[0]}, range: [xs[0], xs[xs.length - 1]], constrain: "domain"},
    yaxis: {title: {text: names[1]}, range: [ys[0], ys[ys.length - 1]], scaleanchor: "x", constrain: "domain"},
    legend: {orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: {size: 11}},
    margin: {l: 56, r: 16, t: 56, b: 44},
  });
  return draw(element, data, layout);
}

function matrixAxes(matrix) {
  const few = (labels) => labels.length <= 40;
  return {
    x: few(matrix.colLabels) ? matrix.colLabels : matrix.colLabels.map((_, k) => k),
    y: few(matrix.rowLabels) ? matrix.rowLabels : matrix.rowLabels.map((_, k) => k),
  };
}

/** A heat map of a matrix, diverging around 0 (red positive, blue negative). */
export function heatmap(element, matrix, title) {
  const {x, y} = matrixAxes(matrix);
  const data = [{
    type: "heatmap", z: matrix.z, x, y, zmid: 0, xgap: 1, ygap: 1, hoverongaps: false,
    colorscale: [[0, "#2166ac"], [0.5, "#f7f7f7"], [1, "#b2182b"]], colorbar: {thickness: 14},
    hovertemplate: "row %{y}, column %{x}: %{z:.6g}<extra></extra>",
  }];
  const height = Math.max(240, Math.min(520, 120 + 34 * matrix.rowLabels.length));
  const layout = base({title: {text: title, x: 0, font: {size: 13}}, showlegend: false, height,
                       xaxis: {type: "category", side: "top"}, margin: {l: 80, r: 24, t: 64, b: 24},
                       yaxis: {type: "category", autorange: "reversed"}});
  return draw(element, data, layout);
}

/** The pattern of a sparse matrix: one square per stored entry. */
export function spy(element, matrix, title) {
  const rows = matrix.rowLabels.length, cols = matrix.colLabels.length;
  const data = [{
    type: "scatter", mode: "markers", x: matrix.stored.map(([, c]) => c), y: matrix.stored.map(([r]) => r),
    marker: {symbol: "square", size: Math.max(2, Math.min(24, 300 / Math.max(rows, cols))), color: "#1e3a5f"},
    hovertemplate: "(%{y}, %{x})<extra></extra>",
  }];
  const density = (100 * matrix.stored.length) / (rows * cols);
  const layout = base({
    title: {text: `${title}: ${matrix.stored.length} stored of ${rows} × ${cols} (${density.toFixed(1)}%)`,
            x: 0, font: {size: 13}}, showlegend: false,
    xaxis: {range: [-0.5, cols - 0.5], side: "top", zeroline: false, constrain: "domain"},
    yaxis: {range: [rows - 0.5, -0.5], scaleanchor: "x", zeroline: false, constrain: "domain"},
  });
  return draw(element, data, layout);
}
