"""A minimal module tree: named trainable parameters, BN buffers and a symbolic forward.

Every block of the model is a :class:`Module`. A module owns parameters (trainable PyTensor
shared variables with static shapes), buffers (BatchNorm running statistics, not trainable)
and named child modules. Full names are the dotted paths Ultralytics uses in its state dicts
(``model.2.m.0.cv1.conv.weight``), so weights can be exchanged by name.

A forward pass is symbolic: ``module(x, ctx)`` returns a PyTensor variable. The
:class:`ForwardContext` says whether BatchNorm uses batch statistics (train) or running
statistics (eval), and collects the running-statistic updates a train-mode forward produces.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import pytensor
from pytensor.compile.sharedvalue import SharedVariable

#: PyTorch convention: running = (1 - momentum) * running + momentum * batch statistic.
BN_MOMENTUM = 0.03
#: BatchNorm epsilon of every YOLO11 Conv block.
BN_EPS = 1e-3


@dataclass
class ForwardContext:
    """How to run a symbolic forward, and what it produced besides its outputs.

    train: BatchNorm normalises with batch statistics (biased variance) and records updates
        of the running statistics (unbiased batch variance) in ``updates``; eval (False) uses
        the running statistics and records nothing.
    updates: ``(shared_variable, new_value)`` pairs for ``pytensor.function(updates=...)``.
    """

    train: bool = False
    momentum: float = BN_MOMENTUM
    updates: list = field(default_factory=list)


def new_shared(shape: tuple[int, ...], fill: float = 0.0) -> SharedVariable:
    """A float32 shared variable of static ``shape`` filled with ``fill`` (named later)."""
    value = np.full(shape, fill, dtype=np.float32)
    return pytensor.shared(value, shape=value.shape)


class Module:
    """Base class: children, parameters and buffers, each in insertion order.

    Subclasses register what they own in ``__init__`` with :meth:`add_module`,
    :meth:`add_param` and :meth:`add_buffer`, implement :meth:`forward`, and override
    :meth:`reset_parameters` when they own parameters.
    """

    def __init__(self) -> None:
        self._modules: dict[str, Module] = {}
        self._params: dict[str, SharedVariable] = {}
        self._buffers: dict[str, SharedVariable] = {}

    # --- registration -------------------------------------------------------------------
    def add_module(self, name: str, module: "Module") -> "Module":
        """Register ``module`` as child ``name`` and return it."""
        if not isinstance(module, Module):
            raise TypeError(f"child {name!r} must be a Module, got {type(module).__name__}")
        self._modules[name] = module
        return module

    def add_param(self, name: str, shape: tuple[int, ...], fill: float = 0.0) -> SharedVariable:
        """Create a trainable float32 parameter of static ``shape`` and return it."""
        var = new_shared(shape, fill)
        self._params[name] = var
        return var

    def add_buffer(self, name: str, shape: tuple[int, ...], fill: float = 0.0) -> SharedVariable:
        """Create a non-trainable float32 buffer (BN running statistic) and return it."""
        var = new_shared(shape, fill)
        self._buffers[name] = var
        return var

    # --- traversal ----------------------------------------------------------------------
    def children(self) -> Iterator[tuple[str, "Module"]]:
        return iter(self._modules.items())

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, "Module"]]:
        """(dotted name, module) for this module and all descendants, depth first."""
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(_join(prefix, name))

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, SharedVariable]]:
        """(dotted name, shared variable) of every trainable parameter, in state-dict order."""
        for name, var in self._params.items():
            yield _join(prefix, name), var
        for name, child in self._modules.items():
            yield from child.named_parameters(_join(prefix, name))

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, SharedVariable]]:
        """(dotted name, shared variable) of every buffer (BN running mean / variance)."""
        for name, var in self._buffers.items():
            yield _join(prefix, name), var
        for name, child in self._modules.items():
            yield from child.named_buffers(_join(prefix, name))

    def num_parameters(self) -> int:
        """Number of trainable scalars (read from the static shapes, no compilation)."""
        return sum(int(np.prod(v.type.shape)) for _, v in self.named_parameters())

    # --- initialisation and forward ---------------------------------------------------
    def reset_parameters(self, rng: np.random.Generator) -> None:
        """Initialise own parameters (subclasses) and then every child's."""
        for child in self._modules.values():
            child.reset_parameters(rng)

    def forward(self, x, ctx: ForwardContext):
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def __call__(self, x, ctx: ForwardContext | None = None):
        return self.forward(x, ctx if ctx is not None else ForwardContext())


class Sequential(Module):
    """Children named ``0``, ``1``, ... applied in order (like ``torch.nn.Sequential``).

    ``len(seq)``, ``for m in seq`` and ``seq[i]`` (negative ``i`` counts from the end) give the
    children without reaching into the registry.
    """

    def __init__(self, *modules: Module) -> None:
        super().__init__()
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __getitem__(self, index: int) -> Module:
        n = len(self._modules)
        if not isinstance(index, (int, np.integer)) or not -n <= index < n:
            raise IndexError(f"Sequential of {n} modules has no index {index!r}")
        return self._modules[str(int(index) % n)]

    def forward(self, x, ctx):
        for child in self:
            x = child(x, ctx)
        return x


def uniform_fan_in(rng: np.random.Generator, shape: tuple[int, ...], fan_in: int) -> np.ndarray:
    """PyTorch's default Conv2d init: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), float32.

    (``kaiming_uniform_(a=sqrt(5))`` for weights and the matching bias rule reduce to this.)
    """
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(np.float32)


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
