"""The convolutions' arithmetic (yolo_lib.ops.precision) reaches the traced program through the step cache:
bfloat16 rounds the operands and the stored result of every conv (forward, input and weight gradient),
float32 asks XLA for full-precision products, tf32 leaves JAX's default; each precision is its own cache entry."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import yolo_lib  # noqa: F401  (floatX=float32)
from yolo_lib.compilation import step_cache
from yolo_lib.compilation.donating_linker import donating_jax_mode
from yolo_lib.ops import conv2d
from yolo_lib.ops.precision import PRECISIONS, check_precision

X_SHAPE, W_SHAPE = (2, 4, 9, 9), (6, 4, 3, 3)


def _conv_graph(groups: int = 1, w_shape=W_SHAPE):
    """(build, calls): y = conv2d(x, w, stride 2, padding 1) and the gradients of sum(y * r)."""
    calls = []

    def build():
        calls.append(1)
        x = pt.tensor("x", dtype="float32", shape=X_SHAPE)
        w = pt.tensor("w", dtype="float32", shape=w_shape)
        r = pt.tensor("r", dtype="float32", shape=(X_SHAPE[0], w_shape[0], 5, 5))
        y = conv2d(x, w, stride=2, padding=1, groups=groups)
        gx, gw = pytensor.grad((y * r).sum(), [x, w])
        return [x, w, r], [y, gx, gw], []

    return build, calls


def _inputs(w_shape=W_SHAPE):
    rng = np.random.default_rng(0)
    return (rng.normal(size=X_SHAPE).astype(np.float32), rng.normal(size=w_shape).astype(np.float32),
            rng.normal(size=(X_SHAPE[0], w_shape[0], 5, 5)).astype(np.float32))


def _run(precision: str, groups: int = 1, w_shape=W_SHAPE, key="conv"):
    build, calls = _conv_graph(groups, w_shape)
    fn = step_cache.cached_function((key, groups), build, {}, donating_jax_mode(include=("fast_compile", "jax")),
                                    precision)
    return fn, [np.asarray(v) for v in fn(*_inputs(w_shape))], calls


def convolutions(fn) -> list[str]:
    """The ``stablehlo.convolution`` lines of a cached function's exported program."""
    return [line for line in fn.exported.mlir_module().splitlines() if "stablehlo.convolution" in line]


def all_bfloat16(line: str) -> bool:
    """The convolution's two operands and its result are bfloat16 tensors."""
    signature = line.rsplit(" : ", 1)[1]
    return signature.count("xbf16>") == 3 and "xf32>" not in signature


def _rel(a, b) -> float:
    return float(np.abs(a - b).max() / np.abs(b).max())


@pytest.fixture(autouse=True)
def _own_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("YOLO_DATA_DIR", str(tmp_path))


def test_bfloat16_rounds_operands_and_results_of_all_threeconvolutions():
    fn, (y, gx, gw), _ = _run("bfloat16")
    _, (y32, gx32, gw32), _ = _run("tf32")
    convs = convolutions(fn)
    assert len(convs) == 3 and all(all_bfloat16(c) for c in convs), convs  # forward, input and weight gradient
    for name, low, full in (("y", y, y32), ("gx", gx, gx32), ("gw", gw, gw32)):
        assert low.dtype == np.float32, name  # the graph stays float32 around the conv
        assert 1e-4 < _rel(low, full) < 2e-2, (name, _rel(low, full))  # bfloat16 has 8 significant bits
    # the forward against a float64 reference on the operands rounded as bfloat16 rounds them; a
    # CPU keeps the product in float32 (XLA's excess precision), a GPU stores it as bfloat16
    x, w, _ = (a.astype(jnp.bfloat16).astype(np.float64) for a in _inputs())
    ref = np.zeros_like(y, dtype=np.float64)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    for i in range(3):
        for j in range(3):
            ref += np.einsum("nchw,oc->nohw", xp[:, :, i: i + 9: 2, j: j + 9: 2], w[:, :, i, j])
    assert np.all(np.abs(y - ref) <= 2 ** -8 * np.abs(ref) + 1e-5)  # at most one bfloat16 rounding away
    assert _rel(y32, ref) > 1e-4  # while the unrounded operands are further off: the test can tell


def test_bfloat16_depthwise_uses_one_convolution_not_elementwise_taps():
    # on the CPU the depthwise conv's default lowering sums 9 taps elementwise; in bfloat16 that
    # would round after every tap, so it becomes one grouped convolution (float32 accumulation)
    dw = (4, 1, 3, 3)
    fn, (y, _, _), _ = _run("bfloat16", groups=4, w_shape=dw, key="depthwise")
    default_fn, (y32, _, _), _ = _run("tf32", groups=4, w_shape=dw, key="depthwise")
    convs = convolutions(fn)
    assert len(convs) == 3 and all(all_bfloat16(c) for c in convs), convs
    assert any("feature_group_count = 4" in c for c in convs)
    assert len(convolutions(default_fn)) < 3  # the float32 program does use the taps
    assert 1e-4 < _rel(y, y32) < 2e-2


def test_float32_asks_for_full_precision_products():
    fn, outs, _ = _run("float32")
    default_fn, default_outs, _ = _run("tf32")
    assert "HIGHEST" in fn.exported.mlir_module()
    default_text = default_fn.exported.mlir_module()
    assert "HIGHEST" not in default_text and "bf16" not in default_text
    for a, b in zip(outs, default_outs):  # a CPU computes float32 products either way
        assert _rel(a, b) < 1e-5


def test_each_precision_is_its_own_cache_entry(tmp_path):
    for precision in PRECISIONS:
        _, _, calls = _run(precision)
        assert calls == [1], f"{precision} reused another precision's program"
    assert len(list((tmp_path / "step_cache").glob("*.bin"))) == len(PRECISIONS)
    fn, _, calls = _run("bfloat16")
    assert calls == [] and all(all_bfloat16(c) for c in convolutions(fn))  # a hit runs the stored bfloat16 program


def test_unknown_precision_is_a_one_line_error():
    with pytest.raises(ValueError, match="precision must be one of tf32, float32, bfloat16; got 'fp16'"):
        check_precision("fp16")
