#!/usr/bin/env bash
# Issue 14's GPU measurements in one run, each step with its own time limit, so one slow step
# cannot take the others down (the limits add up to 530 s: with installing, it fits one 10-minute call):
#
#   benchmarks/gpu_session.sh OUT_DIR          # on the GPU machine, from the repository root
#   benchmarks/gpu_session.sh OUT_DIR smoke    # the same steps at tiny sizes: checks this script on a CPU
#
# Needs a Python ($PYTHON, default python3) that imports yolo_lib (installed, or on PYTHONPATH)
# and, for the comparison, one with torch + ultralytics ($REFPYTHON, default $PYTHON: the GPU
# machine's Python has torch and gets ultralytics from .whl/). Steps, most important first:
#   1. loader: benchmarks/bench_data.py, augmentation with mosaic at 320 in 16 worker processes
#   2. loop: benchmarks/bench_train_loop.py, the Trainer at 320 px, batch 128 (img/s, data wait,
#      device busy share, memory, TFLOP/s), default precision (TF32 on the GPU)
#   3. ultralytics: benchmarks/bench_training.py, ours vs Ultralytics' trainer, same synthetic set,
#      batch and image size, 3 epochs each (Ultralytics with its default AMP and its images cached
#      in RAM, as ours are in the letterbox cache; per-epoch validation off on both sides; ours
#      loads step 2's compiled program)
#   4. loop_bf16 / 5. loop_f32: step 2 with --precision bfloat16 / float32 (each compiles its own
#      program; no second FLOP count: the cost analysis would compile the step once more)
# Each step writes OUT_DIR/<step>.log; OUT_DIR/summary.txt collects the figures that matter and
# each step's exit status (124: it ran out of time). The data (synthetic images and caches) goes
# to $YOLO_DATA_DIR, by default a temporary folder, not OUT_DIR.
set -u
OUT=${1:?usage: benchmarks/gpu_session.sh OUT_DIR [smoke]}
MODE=${2:-full}
PYTHON=${PYTHON:-python3}
REFPYTHON=${REFPYTHON:-$PYTHON}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 YOLO_OFFLINE=1  # Ultralytics: no download attempts (its AMP self-test is skipped)
export YOLO_DATA_DIR=${YOLO_DATA_DIR:-$(mktemp -d)}
if [ "$MODE" = smoke ]; then
    SIZE=64 BATCH=2 ITERS=3 IMAGES=8 BOXES=0 PROCS=2 EPOCHS=1 DEVICE=cpu LOADER=(--processes 2 --batches 2 --images 64)
    LIMITS=(300 600 900 600 600)
else
    SIZE=320 BATCH=128 ITERS=100 IMAGES=2048 BOXES=0 PROCS=12 EPOCHS=3 DEVICE=0 LOADER=(--processes 16 --batches 32)
    LIMITS=(50 160 160 100 60)
fi
# BOXES=0: boxes per image as the data carries them, as the train command sizes them, so that step 3's
# run of ours (same images, batch, size and precision) loads step 2's compiled program from the caches
summary="$OUT/summary.txt"
{ date -u; uname -n; nproc; nvidia-smi -L 2>/dev/null || echo "no nvidia-smi"
  "$PYTHON" -c "import jax; print('jax', jax.__version__, jax.devices())"; } > "$summary" 2>&1

step() {  # step NAME LIMIT_S PATTERN COMMAND...: run it, keep its log, copy the lines matching PATTERN
    local name=$1 limit=$2 pattern=$3; shift 3
    local t0=$SECONDS
    timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
    local rc=$?
    echo "== $name: exit $rc after $((SECONDS - t0)) s: $*" >> "$summary"
    grep -E "$pattern" "$OUT/$name.log" >> "$summary"
    [ $rc -eq 0 ] || tail -5 "$OUT/$name.log" >> "$summary"
}

LOOP=("$PYTHON" benchmarks/bench_train_loop.py --imgsz "$SIZE" --batch "$BATCH" --iters "$ITERS" --images "$IMAGES"
      --max-boxes "$BOXES" --processes "$PROCS" --log-every 10)
FIGURES="^(compile|throughput|per iteration|projection|device busy|device memory|FLOPs|run):"
step loader "${LIMITS[0]}" "img/s|processes|mosaic" "$PYTHON" benchmarks/bench_data.py --size "$SIZE" "${LOADER[@]}"
step loop "${LIMITS[1]}" "$FIGURES" "${LOOP[@]}"
step ultralytics "${LIMITS[2]}" "mAP|images_per_second|wall_seconds|step_compile" \
    "$PYTHON" benchmarks/bench_training.py --refpython "$REFPYTHON" --device "$DEVICE" --imgsz "$SIZE" --batch "$BATCH" \
    --epochs "$EPOCHS" --close-mosaic 0 --n-train "$IMAGES" --n-val 4 --workers "$PROCS" --processes "$PROCS" \
    --no-val --cache ram --out "$YOLO_DATA_DIR/bench_training"
step loop_bf16 "${LIMITS[3]}" "$FIGURES" "${LOOP[@]}" --precision bfloat16 --no-flops
step loop_f32 "${LIMITS[4]}" "$FIGURES" "${LOOP[@]}" --precision float32 --no-flops
cat "$summary"
