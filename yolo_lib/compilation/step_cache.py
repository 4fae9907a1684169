"""Compiled PyTensor functions kept across processes: skip graph building, rewriting and XLA.

A training step costs, before its first call, graph building (symbolic forward, loss and
``pytensor.grad``), PyTensor's graph rewriting and XLA's compilation. The first two are pure
functions of the code and of a few settings, so their result can be stored: this module saves
the rewritten JAX program of a compiled function as a serialized ``jax.export`` artifact (plus
which shared variable feeds each argument and which output updates it) in
``<data dir>/step_cache/<key>.{bin,json}``. A later process (a notebook after a kernel restart,
CI) loads it instead of building and rewriting, and XLA's own compilation comes from JAX's
persistent cache (:func:`yolo_lib.compilation.functions.enable_jax_cache`), whose key is the exported
program's bytes and hence the same in every process.

Usage (what a training step calls; :class:`yolo_lib.train.step.TrainingStep` does this)::

    fn = cached_function(key, build, shared, mode)
    outputs = fn(*inputs)          # like the pytensor.function: outputs, then updates applied

``key``: anything with a stable ``repr`` that, together with the yolo_lib source code and the
versions of pytensor / jax / jaxlib / the backend (added here), fixes the graph: model scale,
classes and parameter shapes, batch and image size, optimizer settings, rewrite set.
``build()``: returns ``(inputs, outputs, updates)`` for ``pytensor.function``; only called on a
cache miss. ``shared``: name -> shared variable for every shared variable the graph uses (its
names must be unique). Every updated argument is donated to XLA, as the donating linker does.

``precision`` (:mod:`yolo_lib.ops.precision`: ``tf32``, ``float32`` or ``bfloat16``) is the
arithmetic of the convolutions in the program: the graph is traced in it, and it joins the key.

Set ``YOLO_STEP_CACHE=0`` to always rebuild (the function is still run through the exported
program, so both paths execute the same code).

Data parallel: when ``mode`` is :func:`yolo_lib.compilation.modes.training` with a ``mesh``, the program is
exported with its shardings (the first ``batch_inputs`` user inputs split over the mesh's
``"data"`` axis, everything else and every output replicated; ``jax.export`` keeps them in the
module) and the number of devices joins the key. A later process calls it on a mesh of its own
with as many devices.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytensor
from pytensor.compile.sharedvalue import SharedVariable

from yolo_lib import settings
from yolo_lib.compilation.functions import enable_jax_cache
from yolo_lib.files import atomic_write_bytes, atomic_write_text
from yolo_lib.ops.precision import DEFAULT as DEFAULT_PRECISION
from yolo_lib.ops.precision import check_precision, tracing_precision
from yolo_lib.paths import data_dir

FORMAT_VERSION = 1


@lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """Hash of every yolo_lib source file and of the library versions the program depends on."""
    import jax
    import jaxlib

    h = hashlib.sha256()
    root = Path(__file__).resolve().parent.parent  # the yolo_lib package
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    h.update(f"{pytensor.__version__} {jax.__version__} {jaxlib.__version__} {jax.default_backend()}".encode())
    h.update(f"format {FORMAT_VERSION} floatX {pytensor.config.floatX}".encode())
    return h.hexdigest()


def cache_key(key) -> str:
    """The file stem of ``key``'s cache entry (sha256 of key, sources and versions)."""
    return hashlib.sha256(f"{key!r}|{source_fingerprint()}".encode()).hexdigest()[:32]


def cache_dir() -> Path:
    return data_dir() / "step_cache"


class ExportedFunction:
    """Calls a serialized JAX program like the PyTensor function it was made from.

    ``sources[i]`` says where argument i comes from: ``("input", k)`` the k-th positional
    input, or ``("shared", name)`` a shared variable's current value. ``updates`` maps an
    output index to the shared variable it overwrites after the call (donated).
    """

    def __init__(self, exported, sources, updates, n_outputs, shared: dict[str, SharedVariable], mesh=None):
        import jax

        from yolo_lib.compilation.parallel import mesh_size

        if exported.nr_devices != mesh_size(mesh):
            raise ValueError(f"the cached program runs on {exported.nr_devices} device(s), "
                             f"the mesh has {mesh_size(mesh)}")

        missing = [name for kind, name in sources if kind == "shared" and name not in shared]
        if missing:
            raise KeyError(f"cached function needs shared variables that were not given: {missing[:5]}")
        self.exported = exported  # e.g. for XLA's cost analysis: jit.lower(*exported.in_avals)
        self.sources = [(kind, shared[v] if kind == "shared" else int(v)) for kind, v in sources]
        self.dtypes = [np.dtype(a.dtype) for a in exported.in_avals]
        self.updates = [(int(o), shared[name]) for o, name in updates]
        self.n_outputs = int(n_outputs)
        updated = {name for _, name in updates}
        donate = tuple(i for i, (kind, v) in enumerate(sources) if kind == "shared" and v in updated)
        if mesh is None:
            self.shardings = [jax.sharding.SingleDeviceSharding(jax.devices()[0])] * len(sources)
            out_shardings = self.shardings[0]
        else:
            self.shardings, out_shardings = list(exported.in_shardings_jax(mesh)), exported.out_shardings_jax(mesh)
        self.jit = jax.jit(exported.call, donate_argnums=donate, in_shardings=tuple(self.shardings),
                           out_shardings=out_shardings)

    def __call__(self, *inputs):
        args = [_as_input(inputs[v] if kind == "input" else v.container.storage[0], dt, sharding)
                for (kind, v), dt, sharding in zip(self.sources, self.dtypes, self.shardings)]
        outs = self.jit(*args)
        for o, var in self.updates:
            var.container.storage[0] = outs[o]
        return list(outs[: self.n_outputs])


def _as_input(value, dtype, sharding):
    """A device array of the right dtype passes through (no copy back to the host); anything else
    is copied to the device with the argument's ``sharding``. Never NumPy: ``jax.jit`` compiles
    once per mix of NumPy and device arguments (a shared variable holds NumPy after ``set_value``,
    a device array after a call), each time for seconds to minutes."""
    import jax

    if getattr(value, "dtype", None) == dtype and isinstance(value, jax.Array):
        return value
    return jax.device_put(np.asarray(value, dtype=dtype), sharding)


def _rewritten(inputs, outputs, updates, mode):
    """PyTensor's FunctionMaker for the graph: rewritten with ``mode``'s rewrites, not linked
    (``pytensor.function`` without its last step, which would build a JAX function we don't use)."""
    from pytensor.compile.mode import get_mode
    from pytensor.compile.rebuild import construct_function_ins_and_outs

    ins, outs = construct_function_ins_and_outs(inputs, outputs, updates=updates)
    mode = get_mode(mode)
    return mode.function_maker(ins, outs, mode)


def _export(maker, shared: dict[str, SharedVariable], mesh=None, batch_inputs: int = 0,
            precision: str = DEFAULT_PRECISION):
    """(exported program, sources, updates, n_outputs) of a rewritten PyTensor graph, traced in
    ``precision``; with a ``mesh``, user inputs ``0 .. batch_inputs - 1`` split over it, the rest
    replicated."""
    import jax
    from pytensor.link.jax.dispatch import jax_funcify

    fgraph = maker.fgraph
    sources, user = [], 0
    for inp in maker.inputs:
        if isinstance(inp.variable, SharedVariable):  # the caller's variable or PyTensor's clone of it
            name = inp.variable.name
            if name not in shared:
                raise KeyError(f"shared variable {name!r} used by the graph is not in `shared` (by name)")
            if ("shared", name) in sources:
                raise ValueError(f"two shared variables of the graph are named {name!r}")
            sources.append(("shared", name))
        else:
            sources.append(("input", user))
            user += 1
    n_outputs = len(fgraph.outputs) - len(fgraph.update_mapping)
    updates = [(o, sources[i][1]) for o, i in sorted(fgraph.update_mapping.items())]
    specs = [jax.ShapeDtypeStruct(v.type.shape, v.type.dtype) for v in fgraph.inputs]
    if any(None in s.shape for s in specs):
        raise ValueError("cached functions need static input shapes")
    shardings = {}
    if mesh is not None:
        from yolo_lib.compilation.parallel import batch_sharding, replicated

        shardings = {"in_shardings": tuple(batch_sharding(mesh) if kind == "input" and v < batch_inputs
                                           else replicated(mesh) for kind, v in sources),
                     "out_shardings": replicated(mesh)}
    with tracing_precision(precision):
        exported = jax.export.export(jax.jit(jax_funcify(fgraph), **shardings))(*specs)
    return exported, sources, updates, n_outputs


def cached_function(key, build, shared: dict[str, SharedVariable], mode,
                    precision: str = DEFAULT_PRECISION) -> ExportedFunction:
    """The compiled function of ``build()``'s graph, from the disk cache when possible (see
    module docstring). ``mode`` is the PyTensor mode used on a miss (a JAX linker mode; its
    linker's ``mesh`` and ``batch_inputs``, if any, make the program data parallel);
    ``precision`` the convolutions' arithmetic (:mod:`yolo_lib.ops.precision`)."""
    import jax
    from pytensor.compile.mode import get_mode

    from yolo_lib.compilation.parallel import mesh_size

    enable_jax_cache()
    linker = get_mode(mode).linker
    mesh, batch_inputs = getattr(linker, "mesh", None), getattr(linker, "batch_inputs", 0)
    key = (key, "precision", check_precision(precision))
    if mesh is not None:
        key = (key, "devices", mesh_size(mesh), "batch_inputs", batch_inputs)
    use_cache = settings.step_cache_enabled()
    stem = cache_dir() / cache_key(key)
    if use_cache and stem.with_suffix(".json").exists() and stem.with_suffix(".bin").exists():
        meta = json.loads(stem.with_suffix(".json").read_text())
        exported = jax.export.deserialize(bytearray(stem.with_suffix(".bin").read_bytes()))
        return ExportedFunction(exported, meta["sources"], meta["updates"], meta["n_outputs"], shared, mesh)
    inputs, outputs, updates = build()
    exported, sources, upd, n_outputs = _export(_rewritten(inputs, outputs, updates, mode), shared, mesh, batch_inputs,
                                                precision)
    if use_cache:  # data first, then the metadata that marks it complete
        atomic_write_bytes(stem.with_suffix(".bin"), exported.serialize())
        atomic_write_text(stem.with_suffix(".json"), json.dumps(
            dict(key=repr(key), sources=sources, updates=upd, n_outputs=n_outputs)))
    return ExportedFunction(exported, sources, upd, n_outputs, shared, mesh)
