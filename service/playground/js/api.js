// Talking to the Nabla service: JSON in, JSON or an RFC 9457 problem out.
// Paths are relative to the page, so the playground also works under a proxy's prefix.

const KEY_STORAGE = "nabla-api-key";

/** An error answer of the service, with the fields of its problem+json body. */
export class Problem extends Error {
  constructor(status, body) {
    super(body.detail || body.title || `HTTP ${status}`);
    this.status = status;
    this.kind = body.kind || "http";
    this.title = body.title || "";
    this.line = body.line ?? null;
    this.column = body.column ?? null;
    this.hint = body.hint || "";
    this.body = body;
  }

  /** A program error carries the position it points at. */
  get positioned() {
    return Number.isInteger(this.line) && Number.isInteger(this.column);
  }
}

/** True for the rejection of a request that a newer one replaced (AbortController). */
export function isAbort(error) {
  return error instanceof DOMException && error.name === "AbortError";
}

export function apiKey() {
  return sessionStorage.getItem(KEY_STORAGE) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORAGE, key);
  else sessionStorage.removeItem(KEY_STORAGE);
}

// The page keeps at most `gate.free` requests in flight: the server refuses work beyond its
// compute slots (503), and a picture needs several requests at once.
const gate = {free: 2, queue: []};
const RETRIES = 3;

function acquire(signal) {
  if (gate.free > 0) {
    gate.free -= 1;
    return Promise.resolve();
  }
  return new Promise((resolve, reject) => {
    const entry = {resolve};
    gate.queue.push(entry);
    signal?.addEventListener("abort", () => {
      const index = gate.queue.indexOf(entry);
      if (index >= 0) gate.queue.splice(index, 1);
      reject(signal.reason);
    }, {once: true});
  });
}

function release() {
  const next = gate.queue.shift();
  if (next) next.resolve();
  else gate.free += 1;
}

/** Wait `seconds` unless `signal` aborts first. */
function pause(seconds, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, seconds * 1000);
    signal?.addEventListener("abort", () => { clearTimeout(timer); reject(signal.reason); }, {once: true});
  });
}

async function send(path, init) {
  const headers = {accept: "application/json", ...init.headers};
  if (apiKey()) headers["x-api-key"] = apiKey();
  try {
    return await fetch(path, {...init, headers});
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new Problem(0, {kind: "network", detail: "the server cannot be reached"});
  }
}

async function request(path, init) {
  await acquire(init.signal);
  let response;
  try {
    for (let attempt = 0; ; attempt += 1) {
      response = await send(path, init);
      const busy = response.status === 503 || response.status === 429;
      if (!busy || attempt === RETRIES) break;
      // Busy (every compute slot taken, or over a rate limit): retry as the server asks.
      await pause(Math.min(Number(response.headers.get("retry-after")) || 1, 5), init.signal);
    }
  } finally {
    release();
  }
  const text = await response.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Problem(response.status, {detail: `unreadable answer (HTTP ${response.status})`});
  }
  if (!response.ok) throw new Problem(response.status, body);
  return body;
}

/** POST `body` as JSON to `path` (e.g. "v1/gradient"); resolves to the parsed answer. */
export function post(path, body, signal) {
  return request(path, {
    method: "POST", signal, body: JSON.stringify(body),
    headers: {"content-type": "application/json"},
  });
}

/** How many requests to keep in flight (the server's compute slots, at most 4), and what
 *  this server offers beyond SPEC §3's operations, read from its OpenAPI document:
 *  `derive` (POST /v1/derive, issue 11b) and `sparse` (sparse: true on jacobian/hessian,
 *  issue 10). The playground shows those panels only where they exist. */
export async function capabilities() {
  try {
    const [spec, limits] = await Promise.all([request("openapi.json", {method: "GET"}),
                                              request("v1/limits", {method: "GET"})]);
    // Asked once at start-up, before any other request: nothing is in flight here.
    gate.free = Math.max(1, Math.min(limits.max_concurrent, 4));
    const fields = spec.components?.schemas?.DerivativeRequest?.properties || {};
    return {derive: "/v1/derive" in (spec.paths || {}), sparse: "sparse" in fields};
  } catch {
    return {derive: false, sparse: false};
  }
}
