// Letterbox exactly as yolo_lib/data/letterbox.py: resize keeping the aspect ratio with
// Pillow's BILINEAR resampling (same fixed-point arithmetic, so the bytes are identical),
// centre on a size x size canvas padded with grey 114, then RGB NCHW float32 in [0, 1].
// Images here are {width, height, data} with data an RGBA Uint8ClampedArray (ImageData).

export const PAD_VALUE = 114;

/** Geometry of a width x height image inside the size x size letterbox (letterbox_params). */
export function letterboxParams(width, height, size = 320) {
  if (!(width > 0 && height > 0)) throw new Error(`image size must be positive, got ${width}x${height}`);
  if (!(size > 0)) throw new Error(`letterbox size must be positive, got ${size}`);
  const r = Math.min(size / height, size / width);
  const newW = Math.max(1, Math.min(size, pyRound(width * r)));
  const newH = Math.max(1, Math.min(size, pyRound(height * r)));
  const dw = (size - newW) / 2;
  const dh = (size - newH) / 2;
  const left = Math.max(pyRound(dw - 0.1), 0);
  const top = Math.max(pyRound(dh - 0.1), 0);
  return { size, width, height, newW, newH, left, top, scaleX: newW / width, scaleY: newH / height };
}

/** Python's round(): halves go to the even neighbour. */
export function pyRound(x) {
  const f = Math.floor(x);
  const diff = x - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

// Pillow's resampling (libImaging/Resample.c) for the bilinear (triangle) filter, 8 bits per
// channel: per output pixel a normalised kernel in doubles, turned into 22-bit fixed point.
const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;
const HALF = 2 ** (PRECISION_BITS - 1);

function triangle(x) {
  const a = Math.abs(x);
  return a < 1.0 ? 1.0 - a : 0.0;
}

function coefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1.0);
  const support = 1.0 * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1.0 / filterScale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let ww = 0.0;
    for (let x = 0; x < xmax; x++) {
      w[x] = triangle((x + xmin - center + 0.5) * ss);
      ww += w[x];
    }
    for (let x = 0; x < xmax; x++) {
      const v = ww !== 0.0 ? w[x] / ww : w[x];
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(acc) {
  const v = Math.floor(acc / ONE);
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

function resampleHorizontal(src, outW) {
  const { width: inW, height, data } = src;
  const { ksize, bounds, kk } = coefficients(inW, outW);
  const out = new Uint8ClampedArray(outW * height * 4);
  for (let y = 0; y < height; y++) {
    const row = y * inW * 4;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = bounds[2 * xx], xmax = bounds[2 * xx + 1], k = xx * ksize;
      let r = HALF, g = HALF, b = HALF;
      for (let x = 0; x < xmax; x++) {
        const p = row + (x + xmin) * 4, c = kk[k + x];
        r += data[p] * c; g += data[p + 1] * c; b += data[p + 2] * c;
      }
      const o = (y * outW + xx) * 4;
      out[o] = clip8(r); out[o + 1] = clip8(g); out[o + 2] = clip8(b); out[o + 3] = 255;
    }
  }
  return { width: outW, height, data: out };
}

function resampleVertical(src, outH) {
  const { width, height: inH, data } = src;
  const { ksize, bounds, kk } = coefficients(inH, outH);
  const out = new Uint8ClampedArray(width * outH * 4);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[2 * yy], ymax = bounds[2 * yy + 1], k = yy * ksize;
    for (let x = 0; x < width; x++) {
      let r = HALF, g = HALF, b = HALF;
      for (let y = 0; y < ymax; y++) {
        const p = ((y + ymin) * width + x) * 4, c = kk[k + y];
        r += data[p] * c; g += data[p + 1] * c; b += data[p + 2] * c;
      }
      const o = (yy * width + x) * 4;
      out[o] = clip8(r); out[o + 1] = clip8(g); out[o + 2] = clip8(b); out[o + 3] = 255;
    }
  }
  return { width, height: outH, data: out };
}

/** Pillow's Image.resize(..., Image.BILINEAR) of an RGBA image (alpha ignored, set to 255). */
export function resizeBilinear(img, outW, outH) {
  let cur = img;
  if (outW !== img.width) cur = resampleHorizontal(cur, outW);
  if (outH !== img.height) cur = resampleVertical(cur, outH);
  return cur;
}

/**
 * Letterbox an RGBA image -> {pixels: size x size RGBA (grey 114 padding), params}.
 */
export function letterboxImage(img, size = 320) {
  const params = letterboxParams(img.width, img.height, size);
  const resized = resizeBilinear(img, params.newW, params.newH);
  const out = new Uint8ClampedArray(size * size * 4);
  for (let i = 0; i < out.length; i += 4) {
    out[i] = PAD_VALUE; out[i + 1] = PAD_VALUE; out[i + 2] = PAD_VALUE; out[i + 3] = 255;
  }
  for (let y = 0; y < params.newH; y++) {
    const srcRow = y * params.newW * 4;
    const dstRow = ((y + params.top) * size + params.left) * 4;
    out.set(resized.data.subarray(srcRow, srcRow + params.newW * 4), dstRow);
  }
  return { pixels: { width: size, height: size, data: out }, params };
}

/** RGBA size x size pixels -> Float32Array (1, 3, size, size) RGB in [0, 1] (NCHW). */
export function toNCHW(pixels) {
  const { width, height, data } = pixels;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = data[4 * i] / 255;
    out[plane + i] = data[4 * i + 1] / 255;
    out[2 * plane + i] = data[4 * i + 2] / 255;
  }
  return out;
}

/** Letterbox-pixel xyxy boxes -> original-image pixels, clipped (boxes_from_letterbox). */
export function boxFromLetterbox(box, params) {
  const clip = (v, hi) => Math.min(Math.max(v, 0), hi);
  return [
    clip((box[0] - params.left) / params.scaleX, params.width),
    clip((box[1] - params.top) / params.scaleY, params.height),
    clip((box[2] - params.left) / params.scaleX, params.width),
    clip((box[3] - params.top) / params.scaleY, params.height),
  ];
}
