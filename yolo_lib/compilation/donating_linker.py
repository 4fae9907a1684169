"""A JAX linker that donates the device buffers of updated shared variables.

``pytensor.function(..., updates=..., mode=donating_jax_mode())`` compiles like ``mode="JAX"``
but passes ``donate_argnums`` to ``jax.jit`` for every input that the function overwrites with
an update (parameters, optimizer state, BN running statistics). XLA then writes the new values
into the old buffers instead of allocating fresh ones, which removes most of PyTensor's per-call
overhead against a hand-written donating JAX step.

Consequence for users: the array a shared variable held before a call is consumed by that call.
``shared.get_value()`` (no ``borrow``) returns a copy and stays valid; a reference taken with
``get_value(borrow=True)`` or a previous output aliasing a parameter becomes unusable after the
next call.

Undocumented PyTensor internals relied on (checked against PyTensor 3.0.x, the range pyproject
allows; ``tests/test_loss_donating_linker.py`` fails if they change):

* ``JAXLinker.jit_compile(fn)``: the hook that wraps the funcified graph in ``jax.jit``;
* ``JAXLinker.scalar_shape_inputs``: input indices PyTensor passes as static ``jax.jit`` arguments;
* ``JAXLinker.fgraph.update_mapping``: {output index: input index} of the function's updates.
* ``PerformLinker.accept``: a linker reused for another graph makes a fresh ``type(self)(allow_gc=...)``
  (overridden here so the fresh one keeps the mesh).

Data parallel: ``donating_jax_mode(..., mesh=data_mesh(), batch_inputs=k)`` (see
:mod:`yolo_lib.compilation.parallel`) also passes ``in_shardings``/``out_shardings`` to ``jax.jit``: the first
``k`` inputs of the function are split along dim 0 over the mesh's ``"data"`` axis, every other
input and every output is replicated. The sharding must be given to ``jax.jit`` itself because
PyTensor hands function inputs over as numpy arrays.
"""

from __future__ import annotations

from pytensor.compile.mode import Mode
from pytensor.graph import RewriteDatabaseQuery
from pytensor.link.jax.linker import JAXLinker


class DonatingJAXLinker(JAXLinker):
    """:class:`JAXLinker` whose ``jax.jit`` donates the inputs that the function updates.

    With ``mesh`` (a :func:`yolo_lib.compilation.parallel.data_mesh`), the first ``batch_inputs`` inputs are
    split over the mesh and everything else is replicated (module docstring).
    """

    def __init__(self, *args, mesh=None, batch_inputs: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.mesh, self.batch_inputs = mesh, int(batch_inputs)

    def accept(self, fgraph, no_recycling=None, profile=None):
        """As :class:`JAXLinker`, but a linker already tied to another graph hands its mesh on
        to the fresh linker it makes (the base class would drop it)."""
        if self.fgraph is not None and self.fgraph is not fgraph:
            fresh = type(self)(allow_gc=self.allow_gc, mesh=self.mesh, batch_inputs=self.batch_inputs)
            return fresh.accept(fgraph, no_recycling, profile)
        return super().accept(fgraph, no_recycling, profile)

    def sharding_kwargs(self) -> dict:
        """``in_shardings``/``out_shardings`` for ``jax.jit`` (empty without a mesh); static shape
        inputs are not arguments of the traced function and get no sharding."""
        if self.mesh is None:
            return {}
        from yolo_lib.compilation.parallel import input_shardings, replicated

        n_traced = len(self.fgraph.inputs) - len(self.scalar_shape_inputs)
        return {"in_shardings": input_shardings(self.mesh, n_traced, self.batch_inputs),
                "out_shardings": replicated(self.mesh)}

    def donated_inputs(self) -> tuple[int, ...]:
        """Indices (in the function graph's inputs) of the updated inputs, minus static shape inputs."""
        updated = set((getattr(self.fgraph, "update_mapping", None) or {}).values())
        return tuple(sorted(updated - set(self.scalar_shape_inputs)))

    def jit_compile(self, fn):
        import jax

        static = self.scalar_shape_inputs
        jit_fn = jax.jit(fn, static_argnums=static, donate_argnums=self.donated_inputs(),
                         **self.sharding_kwargs())
        self.jitted = jit_fn  # the jax.jit object, e.g. for jit_fn.lower(...).cost_analysis()
        if not static:
            return jit_fn
        static_set = set(static)

        def call_with_static_shapes(*args):
            return jit_fn(*(int(a) if i in static_set else a for i, a in enumerate(args)))

        return call_with_static_shapes


def donating_jax_mode(include=("fast_run", "jax"), exclude=(), mesh=None, batch_inputs: int = 0) -> Mode:
    """A JAX mode with :class:`DonatingJAXLinker`; by default the rewrites of ``mode="JAX"``
    (``fast_run`` + ``jax``); ``include``/``exclude`` select other rewrite tags; ``mesh`` and
    ``batch_inputs`` make it data parallel (module docstring)."""
    linker = DonatingJAXLinker(mesh=mesh, batch_inputs=batch_inputs)
    return Mode(linker=linker, optimizer=RewriteDatabaseQuery(include=list(include), exclude=list(exclude)))
