// The derivative as a program (POST /v1/derive, issue 11b): one program per result array,
// each in the Nabla language and runnable as it is. Shown only when the server has the
// operation (see api.capabilities); "Open" loads one into the editor, so its own
// derivatives are a click away.
//
// Contract (SPEC §3): {program, operation, wrt, at, mode, diagonal} -> {"programs": {xi: leaf}}
// and, for a Hessian, {"programs": {xi: {xj: leaf}}}, keyed like the operation's results; a
// leaf is {program, id, inputs, shape} (plain text is accepted too). Tangents and cotangents
// are inputs of the derived programs (v_<name>, u), so no v or u is sent.

import {post} from "./api.js";
import {copyButton} from "./clipboard.js";

export const DERIVABLE = new Set(["gradient", "jacobian", "hessian", "hvp", "jvp", "vjp", "laplacian"]);

function programLeaves(node, label = "") {
  if (typeof node === "string") return [[label, node]];
  if (node && typeof node.program === "string") return [[label, node.program]];
  return Object.entries(node || {}).flatMap(([key, child]) => programLeaves(child, `${label}[${key}]`));
}

function card(label, text, onOpen) {
  const box = document.createElement("section");
  const head = document.createElement("header");
  const title = document.createElement("span");
  title.textContent = `programs${label}`;
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy";
  copy.textContent = "Copy";
  copyButton(copy, () => text);
  const open = document.createElement("button");
  open.type = "button";
  open.textContent = "Open in editor";
  open.addEventListener("click", () => onOpen(text));
  head.append(title, copy, open);
  const pre = document.createElement("pre");
  pre.textContent = text;
  box.append(head, pre);
  return box;
}

/** Ask for the derivative programs of `body`'s operation and show them in `container`. */
export async function showDerived(container, {operation, body, signal, onOpen}) {
  const request = {program: body.program, operation, at: body.at};
  for (const key of ["wrt", "mode", "diagonal"]) {
    if (body[key] !== undefined) request[key] = body[key];
  }
  const answer = await post("v1/derive", request, signal);
  container.replaceChildren(...programLeaves(answer.programs).map(([label, text]) => card(label, text, onOpen)));
}
