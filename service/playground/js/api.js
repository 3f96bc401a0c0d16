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

async function request(path, init) {
  const headers = {accept: "application/json", ...init.headers};
  if (apiKey()) headers["x-api-key"] = apiKey();
  let response;
  try {
    response = await fetch(path, {...init, headers});
  } catch (error) {
    if (isAbort(error)) throw error;
    throw new Problem(0, {kind: "network", detail: "the server cannot be reached"});
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

/** What this server offers beyond SPEC §3's operations, read from its OpenAPI document:
 *  `derive` (POST /v1/derive, issue 11b) and `sparse` (sparse: true on jacobian/hessian,
 *  issue 10). The playground shows those panels only where they exist. */
export async function capabilities() {
  try {
    const spec = await request("openapi.json", {method: "GET"});
    const request_ = spec.components?.schemas?.DerivativeRequest?.properties || {};
    return {derive: "/v1/derive" in (spec.paths || {}), sparse: "sparse" in request_};
  } catch {
    return {derive: false, sparse: false};
  }
}
