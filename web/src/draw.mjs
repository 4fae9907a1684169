// Draw a frame and its detections (boxes in the frame's pixels) on a 2D canvas.

const COLOURS = ['#ff3b30', '#34c759', '#0a84ff', '#ff9f0a', '#bf5af2', '#64d2ff', '#ffd60a', '#ff375f'];

export function drawDetections(ctx, detections) {
  const scale = Math.max(1, ctx.canvas.width / 640);
  ctx.lineWidth = 2 * scale;
  ctx.font = `${Math.round(14 * scale)}px sans-serif`;
  ctx.textBaseline = 'top';
  for (const d of detections) {
    const [x1, y1, x2, y2] = d.box;
    const colour = COLOURS[d.cls % COLOURS.length];
    ctx.strokeStyle = colour;
    ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
    const label = `${d.name} ${d.score.toFixed(2)}`;
    const w = ctx.measureText(label).width + 6 * scale;
    const h = 18 * scale;
    const ty = y1 >= h ? y1 - h : y1;
    ctx.fillStyle = colour;
    ctx.fillRect(x1, ty, w, h);
    ctx.fillStyle = '#000';
    ctx.fillText(label, x1 + 3 * scale, ty + 2 * scale);
  }
}
