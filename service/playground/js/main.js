// The playground's wiring: the program is checked as you type (POST /v1/functions gives its
// inputs or a positioned problem), and every change recomputes the chosen operation, its
// pictures, the derivative programs and the request snippets. A newer request aborts the
// one before, so answers never arrive out of order.

import {Problem, capabilities, isAbort, post, setApiKey} from "./api.js";
import {filled, parseValue, shapeOf} from "./arrays.js";
import {copyButton} from "./clipboard.js";
import {DERIVABLE, showDerived} from "./derive.js";
import {Editor} from "./editor.js";
import {EXAMPLES} from "./examples.js";
import {Inputs} from "./inputs.js";
import {resultMatrix} from "./matrix.js";
import {drawFunction, pictureKind} from "./pictures.js";
import * as plots from "./plots.js";
import {OPERATIONS, operation, requestBody} from "./request.js";
import {describeMeta, showProblem, showResult} from "./results.js";
import {curl, python} from "./snippets.js";

const $ = (id) => document.getElementById(id);
const state = {operation: "gradient", features: {derive: false, sparse: false},
               requests: {}, body: null, result: null, snippet: "curl", checked: ""};
const editor = new Editor({textarea: $("program"), backdrop: $("backdrop"), gutter: $("gutter"),
                           onChange: () => analyze()});
const inputs = new Inputs($("inputs"), () => schedule());
let pending = 0;

function schedule(delay = 250) {
  clearTimeout(pending);
  pending = setTimeout(() => compute(), delay);
}

function say(element, text, className = "") {
  element.className = [element.dataset.base, className].filter(Boolean).join(" ");
  element.textContent = text;
}

function sayProblem(problem) {
  if (problem.status === 401) $("api-key-field").hidden = false;
  if (!problem.positioned) return;
  editor.mark(problem);
  const box = $("diagnostic");
  say(box, `Line ${problem.line}, column ${problem.column} · ${problem.kind}: ${problem.message}`, "error");
  if (problem.hint) {
    const hint = document.createElement("span");
    hint.className = "hint";
    hint.textContent = `hint: ${problem.hint}`;
    box.append(hint);
  }
}

/** The program compiles for these inputs: no mark, and the inputs it has. */
function clearProblem() {
  document.body.classList.remove("stale");
  editor.mark(null);
  say($("diagnostic"), state.checked, "ok");
}

/** A signal for a new request of `purpose`, aborting the one it replaces. */
function fresh(purpose) {
  state.requests[purpose]?.abort();
  state.requests[purpose] = new AbortController();
  return state.requests[purpose].signal;
}

/** Register the program: its inputs, or the position of what is wrong with it. */
async function analyze() {
  const signal = fresh("analysis");
  say($("diagnostic"), "checking…", "busy");
  try {
    const info = await post("v1/functions", {program: editor.text}, signal);
    state.checked = `✓ inputs: ${info.inputs.join(", ") || "none"}`;
    clearProblem();
    $("program-id").textContent = `id ${info.id.slice(0, 12)}…`;
    inputs.sync(info.inputs);
    compute();
  } catch (error) {
    if (isAbort(error)) return;
    if (!(error instanceof Problem)) throw error;
    $("program-id").textContent = "";
    document.body.classList.add("stale");  // what is shown is of the last program that ran
    say($("diagnostic"), error.message, "error");
    sayProblem(error);
  }
}

function options() {
  const u = $("cotangent").value.trim();
  return {mode: $("mode").value, diagonal: $("diagonal").checked, sparse: $("sparse").checked,
          triangle: $("triangle").value, u: u ? parseValue(u).value : undefined};
}

/** vjp needs a cotangent shaped like the result: ones, once the result's shape is known. */
async function fillCotangent(program, at, signal) {
  if (state.operation !== "vjp" || $("cotangent").value.trim()) return;
  const {value} = await post("v1/evaluate", {program, at}, signal);
  $("cotangent").value = JSON.stringify(filled(shapeOf(value), 1));
}

async function compute() {
  clearTimeout(pending);
  const signal = fresh("computation");
  let read;
  try {
    read = inputs.read();
    await fillCotangent(editor.text, read.at, signal);
    state.body = requestBody({operation: state.operation, program: editor.text, inputs: read, options: options()});
  } catch (error) {
    if (isAbort(error)) return;
    return showProblem($("result"), error instanceof Problem ? error : new Problem(0, {kind: "input", detail: error.message}));
  }
  showSnippet();
  $("meta").textContent = "computing…";
  await Promise.all([mainResult(signal, read), functionPicture(signal, read), derived(signal)]);
}

async function mainResult(signal, read) {
  const name = state.operation;
  try {
    const result = await post(`v1/${name}`, state.body, signal);
    state.result = result;
    clearProblem();
    $("meta").textContent = describeMeta(result.meta);
    showResult($("result"), result);
    matrixPictures(result, read);
  } catch (error) {
    if (isAbort(error)) return;
    if (!(error instanceof Problem)) throw error;
    state.result = error.body;
    $("meta").textContent = "";
    showProblem($("result"), error);
    sayProblem(error);
    matrixPictures({}, read);
  }
  $("result").dataset.operation = name;  // what the numbers shown answer (tests wait on it)
}

function matrixPictures(result, read) {
  const matrix = resultMatrix(result, read.shapes, shapeOf(result.value ?? 0));
  const title = result.jacobian ? "Jacobian" : "Hessian";
  if (matrix) plots.heatmap($("matrix-plot"), matrix, `${title}, ${matrix.z.length} × ${matrix.z[0].length}`);
  else plots.clear($("matrix-plot"));
  if (matrix && matrix.sparse) plots.spy($("spy-plot"), matrix, `${title} pattern`);
  else plots.clear($("spy-plot"));
}

async function functionPicture(signal, read) {
  const kind = pictureKind(read);
  for (const label of document.querySelectorAll("[data-picture]")) label.hidden = label.dataset.picture !== kind.kind;
  if (!kind.kind) plots.clear($("function-plot"));
  const context = {program: editor.text, inputs: read, signal,
                   interval: [Number($("interval-lo").value), Number($("interval-hi").value)],
                   halfWidth: Math.abs(Number($("half-width").value)) || 1};
  try {
    say($("picture-note"), await drawFunction($("function-plot"), kind, context), "muted");
  } catch (error) {
    if (isAbort(error)) return;
    if (!(error instanceof Problem)) throw error;
    plots.clear($("function-plot"));
    say($("picture-note"), `No picture of f: ${error.message}`, "picture-problem");
  }
}

async function derived(signal) {
  const shown = state.features.derive && DERIVABLE.has(state.operation);
  $("derive-panel").hidden = !shown;
  if (!shown) return;
  try {
    await showDerived($("derived"), {operation: state.operation, body: state.body, signal, onOpen: openProgram});
  } catch (error) {
    if (isAbort(error)) return;
    if (!(error instanceof Problem)) throw error;
    showProblem($("derived"), error);
  }
}

function openProgram(text) {
  editor.text = text;
  analyze();
}

function showSnippet() {
  if (!state.body) return;
  const origin = new URL(".", window.location.href).href.replace(/\/$/, "");
  const format = state.snippet === "curl" ? curl : python;
  $("snippet").textContent = format(origin, state.operation, state.body);
}

function chooseOperation(name) {
  state.operation = name;
  for (const button of $("operations").children) button.setAttribute("aria-checked", String(button.dataset.op === name));
  for (const label of document.querySelectorAll(".options [data-for]")) {
    const needs = label.dataset.needs;
    label.hidden = !label.dataset.for.split(" ").includes(name) || (needs && !state.features[needs]);
  }
  inputs.showTangents(Boolean(operation(name).tangent));
}

function loadExample(example) {
  editor.text = example.program;
  inputs.load(example.at, example.wrt);
  if (example.interval) [$("interval-lo").value, $("interval-hi").value] = example.interval;
  if (example.halfWidth) $("half-width").value = example.halfWidth;
  $("cotangent").value = "";
  chooseOperation(example.operation);
  analyze();
}

function setUp() {
  for (const op of OPERATIONS) {
    const button = document.createElement("button");
    Object.assign(button, {type: "button", textContent: op.label});
    button.dataset.op = op.name;
    button.setAttribute("role", "radio");
    button.addEventListener("click", () => { chooseOperation(op.name); compute(); });
    $("operations").append(button);
  }
  EXAMPLES.forEach((example, i) => $("examples").add(new Option(example.title, String(i))));
  $("examples").addEventListener("change", (event) => loadExample(EXAMPLES[Number(event.target.value)]));
  for (const id of ["mode", "diagonal", "sparse", "triangle", "interval-lo", "interval-hi", "half-width"]) {
    $(id).addEventListener("change", () => compute());
  }
  $("cotangent").addEventListener("input", () => schedule(400));
  $("compute").addEventListener("click", () => compute());
  $("program").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); compute(); }
  });
  $("diagnostic").addEventListener("click", () => editor.focusProblem());
  $("api-key-field").addEventListener("submit", (event) => event.preventDefault());
  $("api-key").addEventListener("change", (event) => { setApiKey(event.target.value.trim()); analyze(); });
  for (const tab of document.querySelectorAll("[data-snippet]")) {
    tab.addEventListener("click", () => {
      state.snippet = tab.dataset.snippet;
      for (const other of document.querySelectorAll("[data-snippet]")) other.setAttribute("aria-selected", String(other === tab));
      showSnippet();
    });
  }
  copyButton(document.querySelector('[data-copy="snippet"]'), () => $("snippet").textContent);
  copyButton(document.querySelector('[data-copy="result-json"]'), () => JSON.stringify(state.result, null, 2));
}

setUp();
capabilities().then((features) => {
  state.features = features;
  loadExample(EXAMPLES[0]);
});
