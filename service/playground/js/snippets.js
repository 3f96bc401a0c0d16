// The current request as a curl command and as a call of the Python client
// (service/client.py: one method per operation, numpy arrays in and out).

function shellQuote(text) {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function curl(origin, operation, body) {
  return `curl -s ${origin}/v1/${operation} \\\n  -H 'content-type: application/json' \\\n`
    + `  -d ${shellQuote(JSON.stringify(body))}`;
}

function pyNumber(leaf) {
  if (leaf === "NaN") return "np.nan";
  if (leaf === "Infinity") return "np.inf";
  if (leaf === "-Infinity") return "-np.inf";
  return Number.isInteger(leaf) ? leaf.toFixed(1) : String(leaf);
}

function pyList(value) {
  return Array.isArray(value) ? `[${value.map(pyList).join(", ")}]` : pyNumber(value);
}

function pyArray(value) {
  return Array.isArray(value) ? `np.array(${pyList(value)})` : pyNumber(value);
}

function pyString(text) {
  const simple = !text.includes('"""') && !text.includes("\\") && !text.endsWith('"');
  return text.includes("\n") && simple ? `"""${text}"""` : JSON.stringify(text);
}

function pyArrays(named) {
  const items = Object.entries(named).map(([name, value]) => `${JSON.stringify(name)}: ${pyArray(value)}`);
  return `{${items.join(", ")}}`;
}

const KEYWORDS = {
  wrt: (value) => JSON.stringify(value),
  mode: (value) => JSON.stringify(value),
  triangle: (value) => JSON.stringify(value),
  diagonal: () => "True",
  sparse: () => "True",
  v: pyArrays,
  u: pyArray,
};

export function python(origin, operation, body) {
  const args = [`    ${pyString(body.program)},`, `    at=${pyArrays(body.at)},`];
  for (const [key, format] of Object.entries(KEYWORDS)) {
    if (body[key] !== undefined) args.push(`    ${key}=${format(body[key])},`);
  }
  return [
    "import numpy as np",
    "from service.client import Client",
    "",
    `with Client(${JSON.stringify(origin)}) as nabla:`,
    `    result = nabla.${operation}(`,
    ...args.map((line) => `    ${line}`),
    "    )",
    "print(result)",
  ].join("\n");
}
