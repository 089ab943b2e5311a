"""What a model is trained on and how: `TrainingConfig`, stored in every model file, and checked when
it is made (so a bad setting is refused before any training). The architectures and schemes it names
live in core/nets/training.py (`ARCHITECTURES`) and core/nets/cycle_training.py (`CYCLED_SCHEMES`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from core._validate import check_choice, check_range
from core.setups.problems import PRESETS, observed_mask
from core.setups.window_systems import check_model_error, resolve_system
from core.systems.lorenz96 import DT as LORENZ96_DT

# The trainable architectures (core/nets/training.py's `ARCHITECTURES` holds what each is), and the
# schemes any config may name besides its architecture's own (core/nets/cycle_training.py).
ARCHITECTURE_NAMES = ("fourdvarnet", "fourdvarnet_reference")
SCHEMES = ("cycled", "own_cycles")


@dataclass(frozen=True)
class TrainingConfig:
    """What a model is trained on and how; stored in the model file.

    `obs_every`, `obs_noise` and `observed` list the choices drawn per training problem: one entry
    means a fixed setting, several a mixed training set.
    """

    architecture: str = "fourdvarnet"
    preset: str = "attractor"
    obs_every: tuple[int, ...] = (5,)
    obs_noise: tuple[float, ...] = (0.5,)
    observed: tuple[tuple[int, ...], ...] = ((0, 1, 2),)
    # Window lengths (steps); several train on a mix, cycled step by step (each length compiles once).
    T_assim: tuple[int, ...] = (50,)
    steps: int = 600
    batch_size: int = 64
    learning_rate: float = 3e-3
    seed: int = 0
    hyperparameters: dict = field(default_factory=dict)
    # How each step's data are drawn when not the architecture's own way (None): one of SCHEMES, e.g.
    # "cycled", windows of one observation cycle whose background is a cycled analysis'.
    scheme: str | None = None
    # The scheme's own settings, e.g. {"rounds": 2} for "own_cycles" (core/nets/cycle_fourdvarnet.py).
    scheme_options: dict = field(default_factory=dict)
    # The system and the model mismatch of the training problems (`generate_problems`' keywords): the
    # defaults are today's Lorenz-63 with the true model; files written before these fields read so.
    system: str = "lorenz63"
    n_variables: int | None = None
    forcing: float | None = None
    # A pair (low, high) draws the methods' parameter uniformly per training problem: a mixed-mismatch model.
    model_rho: float | tuple[float, float] | None = None
    model_forcing: float | tuple[float, float] | None = None
    model_noise: float = 0.0
    # At each observation time each observed variable is kept with this probability (a random share per
    # problem and time, as the 4DVarNet authors' Lorenz-96 set-up); 1 keeps them all, as before.
    observed_share: float = 1.0

    def __post_init__(self):
        check_choice("architecture", self.architecture, ARCHITECTURE_NAMES)
        check_choice("preset", self.preset, PRESETS)
        resolve_system(self.system, self.preset, self.n_variables, self.forcing, self.model_rho, self.model_forcing)
        check_model_error(self.forcing, self.model_rho, self.model_forcing, self.model_noise, self.observed_share)
        if self.system != "lorenz63" and self.architecture != "fourdvarnet":
            raise ValueError(
                f"system {self.system!r} trains architecture 'fourdvarnet' only, not {self.architecture!r}"
            )
        check_range("obs_every", list(self.obs_every), 1, 50, integer=True)
        check_range("obs_noise", list(self.obs_noise), 0.0, 100.0)
        check_range("T_assim", list(self.T_assim), 10, 300, integer=True)
        for name in ("model_rho", "model_forcing"):
            value = getattr(self, name)
            if isinstance(value, tuple) and (len(value) != 2 or not value[0] < value[1]):
                raise ValueError(f"{name} as a range must be a pair (low, high) with low < high; got {value!r}")
            if isinstance(value, tuple) and (self.architecture != "fourdvarnet" or self.scheme is not None):
                raise ValueError(f"{name} as a range trains our FourDVarNet on simulated windows only")
        for components in self.observed:
            observed_mask(components, self.state_size)
        check_range("steps", self.steps, 0, 1_000_000, integer=True)
        check_range("batch_size", self.batch_size, 1, 100_000, integer=True)
        check_range("learning_rate", self.learning_rate, 1e-7, 1.0)
        if self.scheme is not None:
            check_choice("scheme", self.scheme, SCHEMES)
            if self.architecture != "fourdvarnet":
                raise ValueError(f"scheme {self.scheme!r} trains architecture 'fourdvarnet', not {self.architecture!r}")
            if len(self.T_assim) != 1 or len(self.obs_noise) != 1:
                raise ValueError(f"scheme {self.scheme!r} needs one T_assim (the cycle's window) and one obs_noise")

    @property
    def state_size(self) -> int:
        return resolve_system(self.system, self.preset, self.n_variables, self.forcing, None, None)

    def problem_settings(self) -> dict:
        """The system and mismatch keywords of `generate_problems` (empty for today's Lorenz-63)."""
        names = ("n_variables", "forcing", "model_rho", "model_forcing")
        settings = {name: getattr(self, name) for name in names if getattr(self, name) is not None}
        if self.model_noise:
            settings["model_noise"] = self.model_noise
        if self.observed_share != 1.0:
            settings["observed_share"] = self.observed_share
        if self.system != "lorenz63":
            settings |= {"system": self.system, "dt": LORENZ96_DT}
        return settings

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> TrainingConfig:
        data = dict(data)
        data["obs_every"] = tuple(data["obs_every"])
        data["obs_noise"] = tuple(data["obs_noise"])
        data["observed"] = tuple(tuple(c) for c in data["observed"])
        data["T_assim"] = tuple(data.get("T_assim", (50,)))  # files written before the field
        for name in ("model_rho", "model_forcing"):
            if isinstance(data.get(name), list):  # a range, as JSON writes a tuple
                data[name] = tuple(data[name])
        return cls(**data)

    def label(self) -> str:
        """A short human description, e.g. 'attractor, obs every 5, noise 0.5, xyz'."""
        every = "/".join(str(e) for e in self.obs_every)
        noise = "/".join(f"{s:g}" for s in self.obs_noise)
        if self.system == "lorenz63":
            comps = "/".join("".join("xyz"[c] for c in comp) for comp in self.observed)
        else:
            comps = "/".join(f"{len(comp)} of {self.state_size} variables" for comp in self.observed)
        if self.observed_share != 1.0:
            comps += f" (a random {self.observed_share:.0%} of them each time)"
        windows = "" if self.T_assim == (50,) else ", windows " + "/".join(str(t) for t in self.T_assim)
        scheme = "" if self.scheme is None else f", {self.scheme} backgrounds"
        system = "" if self.system == "lorenz63" else f"{self.system}, "
        mismatch = "".join(
            f", {name.removeprefix('model_')} {_value_or_range(value)}"
            for name, value in (("model_rho", self.model_rho), ("model_forcing", self.model_forcing))
            if value is not None
        ) + (f", Q {self.model_noise:g}" if self.model_noise else "")
        return f"{system}{self.preset}, obs every {every}, noise {noise}, observed {comps}{windows}{scheme}{mismatch}"


def _value_or_range(value) -> str:
    return f"{value[0]:g}-{value[1]:g}" if isinstance(value, tuple) else f"{value:g}"
