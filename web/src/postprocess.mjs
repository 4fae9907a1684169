// Decode the detector's output and run class-aware NMS, as yolo_lib/postprocess.py does.
// Output layout (1, 4+nc, A) row-major: per anchor cx, cy, w, h in input pixels, then nc
// sigmoid class scores. Detections are {box: [x1, y1, x2, y2] in input pixels, score, cls}.

/** Ultralytics' predict defaults (yolo_lib.postprocess.CONF_THRESHOLD, IOU_THRESHOLD, MAX_DETECTIONS). */
export const CONF_THRESHOLD = 0.25;
export const IOU_THRESHOLD = 0.7;
export const MAX_DETECTIONS = 300;

const f32 = Math.fround;

/** Candidates of one image: each anchor's best class, kept when its score > conf. */
export function decodeCandidates(data, dims, conf = CONF_THRESHOLD) {
  if (dims.length !== 3 || dims[0] !== 1 || dims[1] < 5) {
    throw new Error(`expected an output (1, 4+nc, A) with nc >= 1, got (${dims.join(', ')})`);
  }
  const [, channels, anchors] = dims;
  const out = [];
  for (let a = 0; a < anchors; a++) {
    let cls = 0;
    let score = data[4 * anchors + a];
    for (let c = 1; c < channels - 4; c++) {
      const s = data[(4 + c) * anchors + a];
      if (s > score) { score = s; cls = c; }
    }
    if (!(score > conf)) continue;
    const cx = data[a], cy = data[anchors + a], hw = f32(data[2 * anchors + a] / 2), hh = f32(data[3 * anchors + a] / 2);
    out.push({ box: [f32(cx - hw), f32(cy - hh), f32(cx + hw), f32(cy + hh)], score, cls });
  }
  return out;
}

function iou(a, b) {
  const w = Math.max(f32(Math.min(a[2], b[2]) - Math.max(a[0], b[0])), 0);
  const h = Math.max(f32(Math.min(a[3], b[3]) - Math.max(a[1], b[1])), 0);
  const inter = f32(w * h);
  const areaA = f32(Math.max(f32(a[2] - a[0]), 0) * Math.max(f32(a[3] - a[1]), 0));
  const areaB = f32(Math.max(f32(b[2] - b[0]), 0) * Math.max(f32(b[3] - b[1]), 0));
  return f32(inter / Math.max(f32(f32(areaA + areaB) - inter), 1e-9));
}

/**
 * Class-aware greedy NMS: boxes of different classes never suppress each other (each class is
 * shifted into its own coordinate range, as batched_nms does). Returns kept candidates, best first.
 */
export function classAwareNms(cands, iouThreshold = IOU_THRESHOLD, maxDet = MAX_DETECTIONS) {
  if (cands.length === 0) return [];
  let maxAbs = 0;
  for (const c of cands) for (const v of c.box) maxAbs = Math.max(maxAbs, Math.abs(v));
  const span = f32(maxAbs + 1.0);
  const shifted = cands.map((c) => c.box.map((v) => f32(v + f32(c.cls * span))));
  let order = cands.map((_, i) => i).sort((i, j) => cands[j].score - cands[i].score);
  const keep = [];
  while (order.length && keep.length < maxDet) {
    const best = order[0];
    keep.push(best);
    order = order.slice(1).filter((i) => iou(shifted[best], shifted[i]) <= iouThreshold);
  }
  return keep.map((i) => cands[i]);
}

/** Output tensor (1, 4+nc, A) -> detections in input (letterbox) pixels. */
export function nonMaxSuppression(data, dims, conf = CONF_THRESHOLD, iouThreshold = IOU_THRESHOLD, maxDet = MAX_DETECTIONS) {
  return classAwareNms(decodeCandidates(data, dims, conf), iouThreshold, maxDet);
}
