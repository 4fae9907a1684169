"""The notebook profile: ``YOLO_PROFILE=smoke`` (tiny, CPU/CI) or ``full`` (the H100 run).

Every notebook's first code cell calls :func:`start`, which resolves the profile, configures
PyTensor for float32 and prints what runs where. The same code runs in both profiles; smoke only
uses less data, fewer steps and smaller images.
"""

from __future__ import annotations

from dataclasses import dataclass

from yolo_lib import settings
from yolo_lib.train import config as train_config
from yolo_lib.train.config import TrainConfig

PROFILES = ("smoke", "full")


@dataclass(frozen=True)
class Profile:
    """A profile is a name plus its training configuration (:mod:`yolo_lib.train.config`);
    the sizes notebooks read (pixels, images, epochs) are that configuration's."""

    name: str
    train: TrainConfig

    @property
    def imgsz(self) -> int:  # training/eval image size (square, multiple of 32)
        return self.train.imgsz

    @property
    def batch(self) -> int:
        return self.train.batch

    @property
    def epochs(self) -> int:
        return self.train.epochs

    @property
    def n_train(self) -> int:
        return self.train.n_train

    @property
    def n_val(self) -> int:
        return self.train.n_val

    def as_dict(self) -> dict:
        return {"name": self.name, "imgsz": self.imgsz, "batch": self.batch, "epochs": self.epochs,
                "n_train": self.n_train, "n_val": self.n_val}


SMOKE = Profile(name="smoke", train=train_config.SMOKE)
FULL = Profile(name="full", train=train_config.FULL)


def jax_has_gpu() -> bool:
    """True when JAX's default backend is a GPU."""
    import jax

    try:
        return jax.default_backend() == "gpu"
    except RuntimeError:
        return False


def resolve_profile(value: str | None = None) -> Profile:
    """The profile named by ``value`` or ``$YOLO_PROFILE``; default full on a GPU, else smoke."""
    name = value.strip().lower() if value is not None else settings.profile_name()
    if not name:
        name = "full" if jax_has_gpu() else "smoke"
    if name not in PROFILES:
        raise ValueError(f"YOLO_PROFILE={name!r} is not one of {PROFILES}")
    return SMOKE if name == "smoke" else FULL


def configure_pytensor() -> None:
    """Train in float32 (``import yolo_lib`` set it already; this undoes a later change of floatX).
    JAX's 64-bit mode is not touched here: :mod:`yolo_lib.settings` switched it off on import."""
    import pytensor

    pytensor.config.floatX = "float32"


def runtime_summary() -> dict:
    """Versions and devices, as printed at the top of every notebook."""
    import jax
    import pytensor

    return {
        "jax_backend": jax.default_backend(),
        "jax_devices": [str(d) for d in jax.devices()],
        "pytensor": pytensor.__version__,
        "jax": jax.__version__,
        "floatX": pytensor.config.floatX,
    }


def start(value: str | None = None, verbose: bool = True) -> Profile:
    """Resolve the profile, configure PyTensor and print the run's header. Returns the Profile."""
    configure_pytensor()
    profile = resolve_profile(value)
    if verbose:
        info = runtime_summary()
        print(f"profile : {profile.name}  {profile.as_dict()}")
        print(f"jax     : {info['jax']}  backend={info['jax_backend']}  devices={info['jax_devices']}")
        print(f"pytensor: {info['pytensor']}  floatX={info['floatX']}")
    return profile
