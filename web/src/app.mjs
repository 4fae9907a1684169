// The page: model picker, camera or still image, detection loop, read-outs. Exposes window.demo
// (the same functions the buttons call) so the tests and benchmarks drive the real page.
import * as ort from 'onnxruntime-web';
import { pickBackend, wasmThreads } from './backend.mjs';
import { Detector } from './detector.mjs';
import { drawDetections } from './draw.mjs';

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const state = { detector: null, backend: null, running: false, frames: 0, fps: 0, last: null, lastFrame: null, stream: null };

ort.env.wasm.wasmPaths = new URL('/ort/', location.href).href;
ort.env.wasm.numThreads = Number(params.get('threads')) || wasmThreads(self.crossOriginIsolated, navigator.hardwareConcurrency);

function show(id, text) { $(id).textContent = text; }

function setStatus(text, isError = false) {
  show('status', text);
  $('status').className = isError ? 'error' : '';
}

async function chooseBackend() {
  const forced = params.get('backend');
  const pick = forced ? { backend: forced, reason: 'chosen in the URL' } : await pickBackend(navigator.gpu);
  state.backend = pick.backend;
  const threads = pick.backend === 'wasm' ? `, ${ort.env.wasm.numThreads} thread(s)${self.crossOriginIsolated ? '' : ' (page not cross-origin isolated)'}` : '';
  show('backend', `${pick.backend}${threads}: ${pick.reason}`);
}

async function loadModel(bytes, label) {
  setStatus(`loading ${label} ...`);
  const t0 = performance.now();
  state.detector = await Detector.load(ort, bytes, state.backend, label);
  const d = state.detector;
  show('model', `${label}: ${d.size}x${d.size} input, classes ${(d.names || ['(unnamed)']).join(', ')}`);
  setStatus(`model ready in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { size: d.size, names: d.names, meta: d.meta };
}

async function loadModelUrl(url = '/model.onnx') {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`cannot fetch ${url}: HTTP ${resp.status}`);
  let label = url;
  if (url === '/model.onnx') {
    const info = await fetch('/model.json').then((r) => (r.ok ? r.json() : null)).catch(() => null);
    if (info) label = `served model ${info.name} (${info.source})`;
  }
  return loadModel(new Uint8Array(await resp.arrayBuffer()), label);
}

/** A Blob (PNG, JPEG...) -> {width, height, data: RGBA} with no colour conversion. */
async function decodeImage(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  return ctx.getImageData(0, 0, canvas.width, canvas.height);
}

function grabVideoFrame(video) {
  const w = video.videoWidth, h = video.videoHeight;
  const canvas = grabVideoFrame.canvas ||= new OffscreenCanvas(w, h);
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  ctx.drawImage(video, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

function conf() { return Number($('conf').value); }

/** Detect on one frame (ImageData), draw it and its boxes, update the read-outs. */
async function processFrame(frame) {
  if (!state.detector) throw new Error('no model loaded');
  const result = await state.detector.detect(frame, conf());
  const view = $('view');
  if (view.width !== frame.width || view.height !== frame.height) { view.width = frame.width; view.height = frame.height; }
  const ctx = view.getContext('2d');
  ctx.putImageData(frame, 0, 0);
  drawDetections(ctx, result.detections);
  state.frames += 1;
  state.last = result;
  state.lastFrame = frame;
  const t = result.times;
  show('timing', `inference ${t.infer.toFixed(1)} ms, letterbox ${t.pre.toFixed(1)} ms, NMS ${t.post.toFixed(1)} ms`);
  show('count', `${state.frames} frame(s), ${result.detections.length} detection(s)`);
  return result;
}

function summary(result) {
  return {
    detections: result.detections,
    times: result.times,
    params: result.params,
    frames: state.frames,
  };
}

/** Decode + NMS the last output again at the current (or given) confidence; redraws a still image. */
function redetect(confidence = conf()) {
  const d = state.detector, last = state.last;
  if (!d || !last) return null;
  last.detections = d.decode(last.output, last.params, confidence);
  if (!state.running && state.lastFrame) {
    const ctx = $('view').getContext('2d');
    ctx.putImageData(state.lastFrame, 0, 0);
    drawDetections(ctx, last.detections);
  }
  show('count', `${state.frames} frame(s), ${last.detections.length} detection(s) above ${confidence.toPrecision(3)}`);
  return summary(last);
}

async function detectBlob(blob) {
  stopCamera();
  const result = await processFrame(await decodeImage(blob));
  show('fps', 'still image');
  return summary(result);
}

async function detectImageUrl(url) {
  const resp = await fetch(url);
  if (!resp.ok) throw new Error(`cannot fetch ${url}: HTTP ${resp.status}`);
  return detectBlob(await resp.blob());
}

async function startCamera() {
  stopCamera();
  const video = $('video');
  state.stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 640 }, height: { ideal: 480 } }, audio: false });
  video.srcObject = state.stream;
  await video.play();
  state.running = true;
  state.frames = 0;
  let prev = performance.now();
  while (state.running) {
    if (video.readyState >= 2 && video.videoWidth > 0) {
      await processFrame(grabVideoFrame(video));
      const now = performance.now();
      state.fps = state.fps ? 0.9 * state.fps + 0.1 * (1000 / (now - prev)) : 1000 / (now - prev);
      prev = now;
      show('fps', `${state.fps.toFixed(1)} FPS`);
    }
    await new Promise((r) => requestAnimationFrame(r));
  }
}

function stopCamera() {
  state.running = false;
  if (state.stream) state.stream.getTracks().forEach((t) => t.stop());
  state.stream = null;
}

/** The last processed frame's RGBA bytes, base64 (for tests comparing with Python on the same pixels). */
function lastFrameBase64() {
  const f = state.lastFrame;
  if (!f) return null;
  let s = '';
  for (let i = 0; i < f.data.length; i += 0x8000) s += String.fromCharCode.apply(null, f.data.subarray(i, i + 0x8000));
  return { width: f.width, height: f.height, rgba: btoa(s) };
}

/**
 * Time n frames (letterbox + inference + NMS) on the last frame (or a grey 640x480 one) after
 * warm-up runs: per-run milliseconds {infer, frame}.
 */
async function benchmark(n = 20, warmup = 3) {
  const d = state.detector;
  const frame = state.lastFrame || new ImageData(new Uint8ClampedArray(640 * 480 * 4).fill(114), 640, 480);
  const infer = [], total = [];
  for (let i = 0; i < warmup + n; i++) {
    const r = await d.detect(frame, conf());
    if (i >= warmup) { infer.push(r.times.infer); total.push(r.times.pre + r.times.infer + r.times.post); }
  }
  return { backend: state.backend, threads: ort.env.wasm.numThreads, size: d.size, infer_ms: infer, frame_ms: total };
}

function wireUi() {
  $('model-file').addEventListener('change', async (e) => {
    const file = e.target.files[0];
    if (file) await guard(async () => loadModel(new Uint8Array(await file.arrayBuffer()), file.name));
  });
  $('served-model').addEventListener('click', () => guard(() => loadModelUrl()));
  $('camera').addEventListener('click', () => guard(startCamera));
  $('stop').addEventListener('click', stopCamera);
  $('image-file').addEventListener('change', (e) => {
    const file = e.target.files[0];
    if (file) guard(() => detectBlob(file));
  });
  $('conf').addEventListener('input', () => { show('conf-value', conf().toFixed(2)); redetect(); });
  show('conf-value', conf().toFixed(2));
}

async function guard(fn) {
  try {
    return await fn();
  } catch (e) {
    setStatus(`error: ${e.message}`, true);
    console.error(e);
    return null;
  }
}

async function main() {
  wireUi();
  await chooseBackend();
  await loadModelUrl(params.get('model') || '/model.onnx');
  if (params.get('source') === 'camera') guard(startCamera);
}

window.demo = {
  ready: main().catch((e) => { setStatus(`error: ${e.message}`, true); throw e; }),
  loadModelUrl, detectImageUrl, redetect, startCamera, stopCamera, benchmark, lastFrameBase64,
  stats: () => ({ frames: state.frames, fps: state.fps, backend: state.backend, threads: ort.env.wasm.numThreads,
    isolated: self.crossOriginIsolated, detections: state.last?.detections ?? [], times: state.last?.times ?? null }),
  lastOutput: () => (state.last ? { dims: state.last.output.dims, data: Array.from(state.last.output.data) } : null),
};
