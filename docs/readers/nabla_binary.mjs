// Nabla's framed binary bodies (the Open Inference Protocol's binary tensor extension) from
// JavaScript: Node 18+ or a browser, no dependencies. See docs/arrays.md.
const TYPES = {float64: Float64Array, float32: Float32Array, int64: BigInt64Array,
               int32: Int32Array, int16: Int16Array, int8: Int8Array, uint8: Uint8Array};

// Read an answer: the JSON part, with each binary array replaced by {shape, data}.
export async function readAnswer(response) {
  const bytes = await response.arrayBuffer();
  const start = Number(response.headers.get("inference-header-content-length"));
  const answer = JSON.parse(new TextDecoder().decode(new Uint8Array(bytes, 0, start)));
  const revive = (node) => {
    if (node === null || typeof node !== "object") return node;
    if (node.object_type === "array" && node.data.encoding === "binary") {
      const Type = TYPES[node.dtype], {binary_data_offset: at, binary_data_size: n} = node.data;
      return {shape: node.shape, data: new Type(bytes, start + at, n / Type.BYTES_PER_ELEMENT)};
    }
    for (const key of Object.keys(node)) node[key] = revive(node[key]);
    return node;
  };
  return revive(answer);
}

// Write a request: binaryArray() puts a typed array in `parts` and returns its reference for
// the JSON part; frame() makes the body and its headers (the JSON part padded to 8 bytes).
export function binaryArray(typed, shape, parts) {
  parts.push(typed);
  const dtype = Object.keys(TYPES).find((name) => typed instanceof TYPES[name]);
  return {object_type: "array", shape, dtype,
          data: {encoding: "binary", binary_data_size: typed.byteLength}};
}

export function frame(body, parts) {
  const text = JSON.stringify(body), length = new TextEncoder().encode(text).length;
  const padded = Math.ceil(length / 8) * 8;
  const json = new TextEncoder().encode(text + " ".repeat(padded - length));
  const bytes = parts.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength));
  return {body: new Blob([json, ...bytes]),
          headers: {"content-type": "application/octet-stream",
                    "inference-header-content-length": String(padded)}};
}
