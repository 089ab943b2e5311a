"""One registry for every method, window and cycled: its name, kind, label, colour, family, and how to build it.

A new method is one class plus one `register_method(...)` call beside it, in one file:
- a *window* method (`core/da/method.py`'s `AbstractMethod`) is built from a `MethodContext` (trained
  models, the user's caps) and shows up in `reproduce`, `sweep`, `windows` and Explore's method list;
- a *cycled* method (`core/da/cycle.py`'s `AbstractCycledMethod`) is built from its tuning parameters
  (`defaults`: each parameter it takes, with its tuned value) and shows up in `python -m core cycle
  --method`, its JSON and the Cycle tab.
Window and cycled twins (OI, strong 4DVar, FourDVarNet) share a name: the kind tells them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

KINDS = ("window", "cycled")
# DAPPER's grouping of methods (da_methods/baseline.py, variational.py, ensemble.py), plus ours.
FAMILIES = ("baseline", "variational", "ensemble", "learned", "other")
# The tuning parameters a cycled method may take, as the CLI's flags and the JSON name them.
CYCLED_PARAMETERS = ("ensemble_size", "inflation", "lag", "b_scale", "localisation_radius", "model_error_q")


@dataclass(frozen=True)
class MethodContext:
    """What a registered window method may need to be built: trained models and the user's settings.

    Fields:
        model: our trained FourDVarNet (None: the learned method is left out).
        reference_model: the reference notebook's trained FourDVarNet1D (None: left out).
        max_steps: an iteration cap for iterative solvers (None: each solver's default).
        n_steps: FourDVarNet's K at inference (None: as trained).
    """

    model: object | None = None
    reference_model: object | None = None
    max_steps: int | None = None
    n_steps: int | None = None


@dataclass(frozen=True)
class MethodEntry:
    """A registered method.

    Fields:
        name: a short identifier (`[a-z0-9_]+`), used in tables, JSON and the CLI.
        label: what people read, e.g. "strong 4DVar (Gauss-Newton)".
        build: window: `MethodContext -> method | None` (None: the context lacks a trained model);
            cycled: `(**parameters) -> method`, called with every parameter of `defaults`.
        colour: its one colour in every plot, legend and table row.
        family: one of `FAMILIES`; tables list methods family by family, in registration order.
        learned: needs a trained model (the sweep brings its own, so it skips these).
        kind: one of `KINDS`.
        defaults: cycled only: the parameters it takes (names from `CYCLED_PARAMETERS`) and their tuned values.
    """

    name: str
    label: str
    build: Callable
    colour: str = "#555555"
    family: str = "other"
    learned: bool = False
    kind: str = "window"
    defaults: Mapping[str, float | int] = field(default_factory=dict)

    @property
    def ensemble(self) -> bool:
        """A cycled method that carries an ensemble (it takes an ensemble size)."""
        return "ensemble_size" in self.defaults


_REGISTRY: dict[tuple[str, str], MethodEntry] = {}


def register_method(
    name: str,
    build: Callable,
    *,
    label: str,
    colour: str = "#555555",
    family: str = "other",
    learned: bool = False,
    kind: str = "window",
    defaults: Mapping[str, float | int] | None = None,
) -> MethodEntry:
    """Make a method known to every table, the CLI and the dashboard (see `MethodEntry` for the arguments).

    Raises:
        ValueError: `name` is taken for this kind or malformed, or a field is not one of its choices.
    """
    if not name or not all(c.isascii() and (c.isalnum() or c == "_") for c in name) or name != name.lower():
        raise ValueError(f"method name must be lower-case letters, digits and '_'; got {name!r}")
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}; got {kind!r}")
    if (kind, name) in _REGISTRY:
        raise ValueError(f"a {kind} method named {name!r} is already registered")
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}; got {family!r}")
    defaults = dict(defaults or {})
    unknown = set(defaults) - set(CYCLED_PARAMETERS)
    if unknown or (defaults and kind != "cycled"):
        raise ValueError(
            f"defaults are cycled methods' parameters, among {', '.join(CYCLED_PARAMETERS)}; got {defaults}"
        )
    entry = MethodEntry(name, label, build, colour, family, learned, kind, MappingProxyType(defaults))
    _REGISTRY[(kind, name)] = entry
    return entry


def unregister_method(name: str, kind: str = "window") -> None:
    """Forget a registered method (tests register toy methods and clean up after themselves)."""
    _REGISTRY.pop((kind, name), None)


def registered_methods(kind: str = "window") -> dict[str, MethodEntry]:
    """name -> entry of one kind, family by family (see `FAMILIES`), in registration order within a family."""
    ordered = sorted((e for e in _REGISTRY.values() if e.kind == kind), key=lambda e: FAMILIES.index(e.family))
    return {entry.name: entry for entry in ordered}


class MethodNames:
    """The names of one kind's registered methods, read live: argparse `choices` and the dashboard's
    option lists see a method registered after they were built."""

    def __init__(self, kind: str):
        self.kind = kind

    def __iter__(self) -> Iterator[str]:
        return iter(registered_methods(self.kind))

    def __contains__(self, name: object) -> bool:
        return (self.kind, name) in _REGISTRY

    def __len__(self) -> int:
        return len(registered_methods(self.kind))

    def __repr__(self) -> str:
        return repr(tuple(self))


CYCLED_METHOD_NAMES = MethodNames("cycled")


def build_methods(context: MethodContext, *, learned: bool = True) -> dict[str, object]:
    """Every registered window method that `context` can build (learned ones only if `learned`)."""
    built = {}
    for name, entry in registered_methods("window").items():
        if entry.learned and not learned:
            continue
        method = entry.build(context)
        if method is not None:
            built[name] = method
    return built


def cycled_parameters(name: str, **overrides: float | int | None) -> dict[str, float | int]:
    """The parameters the cycled method `name` runs with: its tuned `defaults`, each replaced by an
    override that is not None; overrides of parameters it does not take are ignored.

    Raises:
        ValueError: `name` is not a registered cycled method.
    """
    from core._validate import check_choice

    check_choice("method", name, tuple(CYCLED_METHOD_NAMES))
    defaults = _REGISTRY[("cycled", name)].defaults
    return {key: value if overrides.get(key) is None else overrides[key] for key, value in defaults.items()}


def build_cycled_method(name: str, **overrides: float | int | None):
    """The cycled method `name` with its tuned parameters, each overridden by a value that is not None
    (`ensemble_size`, `inflation`, `lag`, `b_scale`, `localisation_radius`, `model_error_q`; see
    `cycled_parameters`).

    Raises:
        ValueError: unknown name, or a parameter out of the method's range (the message names it).
    """
    parameters = cycled_parameters(name, **overrides)  # checks the name first
    return _REGISTRY[("cycled", name)].build(**parameters)
