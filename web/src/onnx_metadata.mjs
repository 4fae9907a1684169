// Read an ONNX file's metadata_props (ModelProto field 14) without a protobuf library: walk the
// top-level fields of the wire format and skip everything else (the graph is skipped by length).

function readVarint(bytes, pos) {
  let value = 0, shift = 1, b;
  do {
    if (pos >= bytes.length) throw new Error('truncated ONNX file');
    b = bytes[pos++];
    value += (b & 0x7f) * shift;
    shift *= 128;
  } while (b & 0x80);
  return [value, pos];
}

function* fields(bytes, start = 0, end = bytes.length) {
  let pos = start;
  while (pos < end) {
    let key;
    [key, pos] = readVarint(bytes, pos);
    const field = Math.floor(key / 8), wire = key & 7;
    if (wire === 0) { let v; [v, pos] = readVarint(bytes, pos); yield { field, wire, value: v }; }
    else if (wire === 1) { pos += 8; }
    else if (wire === 5) { pos += 4; }
    else if (wire === 2) {
      let len; [len, pos] = readVarint(bytes, pos);
      if (pos + len > end) throw new Error('truncated ONNX file');
      yield { field, wire, start: pos, end: pos + len };
      pos += len;
    } else throw new Error(`not an ONNX file (protobuf wire type ${wire})`);
  }
}

/** ONNX bytes (Uint8Array) -> {key: value} of metadata_props. */
export function onnxMetadata(bytes) {
  const text = new TextDecoder();
  const meta = {};
  for (const f of fields(bytes)) {
    if (f.field !== 14 || f.wire !== 2) continue;
    let key = '', value = '';
    for (const g of fields(bytes, f.start, f.end)) {
      if (g.wire !== 2) continue;
      const s = text.decode(bytes.subarray(g.start, g.end));
      if (g.field === 1) key = s; else if (g.field === 2) value = s;
    }
    meta[key] = value;
  }
  return meta;
}

/** Ultralytics' names literal "{0: 'person', 1: 'cell phone'}" -> ['person', 'cell phone'] (or null). */
export function parseNames(literal) {
  if (!literal) return null;
  const names = [];
  for (const m of literal.matchAll(/(\d+)\s*:\s*(['"])((?:\\.|(?!\2).)*)\2/g)) names[Number(m[1])] = m[3];
  return names.length ? Array.from(names, (n, i) => n ?? String(i)) : null;
}

/** Ultralytics' imgsz literal "[320, 320]" -> [h, w] (or null). */
export function parseImgsz(literal) {
  const nums = (literal || '').match(/\d+/g);
  if (!nums) return null;
  return nums.length === 1 ? [Number(nums[0]), Number(nums[0])] : [Number(nums[0]), Number(nums[1])];
}
