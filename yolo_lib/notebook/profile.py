"""The notebook profile: ``YOLO_PROFILE=smoke`` (tiny, CPU/CI) or ``full`` (the H100 run).

Every notebook's first code cell calls :func:`start`, which resolves the profile, configures
PyTensor for float32 and prints what runs where. The same code runs in both profiles; smoke only
uses less data, fewer steps and smaller images.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from yolo_lib import settings
from yolo_lib.train import config as train_config
from yolo_lib.train.config import TrainConfig

PROFILES = ("smoke", "full")


@dataclass(frozen=True)
class Profile:
    """Sizes that differ between profiles (pixels, images, epochs), taken from the profile's
    training configuration (:data:`yolo_lib.train.config.SMOKE` / ``FULL``); :attr:`train` is that
    configuration with these sizes (so ``dataclasses.replace(SMOKE, imgsz=64).train`` follows)."""

    name: str
    imgsz: int  # training/eval image size (square, multiple of 32)
    batch: int  # training batch size
    epochs: int  # training epochs
    n_train: int  # training images
    n_val: int  # validation images

    @classmethod
    def of(cls, name: str, cfg: TrainConfig) -> "Profile":
        return cls(name, cfg.imgsz, cfg.batch, cfg.epochs, cfg.n_train, cfg.n_val)

    @property
    def train(self) -> TrainConfig:
        """The full training configuration of this profile."""
        base = train_config.SMOKE if self.name == "smoke" else train_config.FULL
        return replace(base, imgsz=self.imgsz, batch=self.batch, epochs=self.epochs, n_train=self.n_train,
                       n_val=self.n_val)

    def as_dict(self) -> dict:
        return asdict(self)


SMOKE = Profile.of("smoke", train_config.SMOKE)
FULL = Profile.of("full", train_config.FULL)


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
