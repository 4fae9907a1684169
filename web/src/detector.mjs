// One loaded model: onnxruntime-web session + metadata, and image -> detections in image pixels.
import { letterboxImage, toNCHW, boxFromLetterbox } from './letterbox.mjs';
import { nonMaxSuppression, CONF_THRESHOLD, IOU_THRESHOLD } from './postprocess.mjs';
import { onnxMetadata, parseNames, parseImgsz } from './onnx_metadata.mjs';

export class Detector {
  /** Use Detector.load(). */
  constructor(ort, session, meta, label) {
    this.ort = ort;
    this.session = session;
    this.meta = meta;
    this.label = label;
    if (meta.end2end === 'True' || /'nms': True/.test(meta.args || '')) {
      throw new Error(`${label} has NMS inside the graph (exported with nms=True or end-to-end): export it without, output (1, 4+nc, anchors)`);
    }
    const imgsz = parseImgsz(meta.imgsz) || squareInputSize(session) || [640, 640];
    if (imgsz[0] !== imgsz[1]) throw new Error(`only square model inputs are supported, this one is ${imgsz[0]}x${imgsz[1]}`);
    this.size = imgsz[0];
    this.names = parseNames(meta.names);
    this.inputName = session.inputNames[0];
    this.outputName = session.outputNames[0];
  }

  /** bytes: Uint8Array of an Ultralytics-format ONNX file; backend 'webgpu' or 'wasm'. */
  static async load(ort, bytes, backend, label = 'model') {
    const meta = onnxMetadata(bytes);
    const session = await ort.InferenceSession.create(bytes, { executionProviders: [backend] });
    return new Detector(ort, session, meta, label);
  }

  /** The output {data, dims} (1, 4+nc, A) -> detections {box (image px), score, cls, name} via the letterbox params. */
  decode(output, params, conf = CONF_THRESHOLD, iou = IOU_THRESHOLD) {
    return nonMaxSuppression(output.data, output.dims, conf, iou).map((d) => ({
      box: boxFromLetterbox(d.box, params), score: d.score, cls: d.cls, name: this.className(d.cls),
    }));
  }

  className(cls) {
    return this.names?.[cls] ?? String(cls);
  }

  /**
   * image: {width, height, data: RGBA bytes}. Returns {detections: [{box (image px), score, cls,
   * name}], output: {data, dims}, params, times: {pre, infer, post} in ms}.
   */
  async detect(image, conf = CONF_THRESHOLD, iou = IOU_THRESHOLD) {
    const t0 = performance.now();
    const { pixels, params } = letterboxImage(image, this.size);
    const input = new this.ort.Tensor('float32', toNCHW(pixels), [1, 3, this.size, this.size]);
    const t1 = performance.now();
    const result = await this.session.run({ [this.inputName]: input });
    const t2 = performance.now();
    const out = result[this.outputName];
    const data = out.data;
    const dims = out.dims.map(Number);
    const detections = this.decode({ data, dims }, params, conf, iou);
    const t3 = performance.now();
    input.dispose?.();
    return { detections, output: { data, dims }, params, times: { pre: t1 - t0, infer: t2 - t1, post: t3 - t2 } };
  }
}

function squareInputSize(session) {
  const shape = session.inputMetadata?.[0]?.shape;
  if (!shape || typeof shape[2] !== 'number' || typeof shape[3] !== 'number') return null;
  return [shape[2], shape[3]];
}
