// Pick onnxruntime-web's execution provider: WebGPU only on a real GPU adapter, else threaded wasm.

/**
 * 'webgpu' when navigator.gpu gives an adapter that is not a software fallback (headless
 * Chromium's SwiftShader adapter computes correctly but takes ~30 s per YOLO11n frame), else 'wasm'.
 * Returns {backend, reason}.
 */
export async function pickBackend(gpu) {
  if (!gpu) return { backend: 'wasm', reason: 'no WebGPU in this browser' };
  let adapter = null;
  try {
    adapter = await gpu.requestAdapter();
  } catch (e) {
    return { backend: 'wasm', reason: `WebGPU adapter request failed: ${e.message}` };
  }
  if (!adapter) return { backend: 'wasm', reason: 'no WebGPU adapter' };
  const fallback = adapter.info?.isFallbackAdapter ?? adapter.isFallbackAdapter ?? false;
  if (fallback) return { backend: 'wasm', reason: 'WebGPU adapter is a software fallback' };
  const name = [adapter.info?.vendor, adapter.info?.architecture].filter(Boolean).join(' ');
  return { backend: 'webgpu', reason: `WebGPU adapter ${name || '(unnamed)'}` };
}

/** Threads for the wasm backend: as many as ORT's default when cross-origin isolated, else 1. */
export function wasmThreads(isolated, cores) {
  if (!isolated) return 1;
  return Math.min(4, Math.ceil((cores || 2) / 2));
}
