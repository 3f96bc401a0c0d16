// The operations of SPEC §3 and the JSON body of the current request.

export const OPERATIONS = [
  {name: "evaluate", label: "evaluate", differentiates: false},
  {name: "gradient", label: "gradient ∇f", differentiates: true},
  {name: "jacobian", label: "Jacobian", differentiates: true},
  {name: "hessian", label: "Hessian", differentiates: true},
  {name: "hvp", label: "HVP H·v", differentiates: true, tangent: true},
  {name: "jvp", label: "JVP J·v", differentiates: true, tangent: true},
  {name: "vjp", label: "VJP uᵀ·J", differentiates: true, cotangent: true},
  {name: "laplacian", label: "Laplacian Δf", differentiates: true},
];

export function operation(name) {
  return OPERATIONS.find((op) => op.name === name);
}

/** The body of POST v1/<operation>. Defaults are left out, so snippets stay short:
 *  `wrt` when it names every input, `mode` auto, `diagonal` false. */
export function requestBody({operation: name, program, inputs, options}) {
  const op = operation(name);
  const body = {program, at: inputs.at};
  const all = inputs.wrt.length === Object.keys(inputs.at).length;
  if (op.differentiates && !all) body.wrt = inputs.wrt;
  if (name === "jacobian" && options.mode !== "auto") body.mode = options.mode;
  if (name === "hessian" && options.diagonal) body.diagonal = true;
  if ((name === "jacobian" || name === "hessian") && options.sparse && !options.diagonal) {
    body.sparse = true;
    if (name === "hessian" && options.triangle !== "both") body.triangle = options.triangle;
  }
  if (op.tangent) body.v = Object.fromEntries(inputs.wrt.map((x) => [x, inputs.v[x]]));
  if (op.cotangent && options.u !== undefined) body.u = options.u;
  return body;
}
