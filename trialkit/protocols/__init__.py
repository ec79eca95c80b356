"""The trials as data: protocol files and the small typed loader that reads them.

Each protocol is a YAML file in this folder (``b1931036.yaml``, ``aall1732.yaml``): arms with their
allocation ratio, stratification factors, age limits, planned sample size, dosing and the site list.
Its eligibility criteria live beside it in ``<id>.criteria.yaml`` (read by
:mod:`trialkit.eligibility`). The allocation ratio is always read from here, never written in code.

A user can load their own protocol file with :func:`load_protocol` (a path) or register a folder of
them with the ``TRIALKIT_PROTOCOLS`` environment variable (``os.pathsep``-separated folders).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from functools import cache, reduce
from math import gcd
from pathlib import Path
from typing import Any

import yaml

from ..errors import ProtocolError

_HERE = Path(__file__).parent

#: libyaml's parser when PyYAML was built with it (the same safe constructor, about ten times faster on a
#: protocol's criteria file), else PyYAML's own
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _read_yaml(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)


__all__ = ["Arm", "Factor", "Window", "SiteEntry", "Protocol", "get_protocol", "protocols", "load_protocol", "parse_protocol"]


@dataclass(frozen=True)
class Arm:
    """A treatment arm; ``ratio`` is its integer share of the allocation (2 in a 2:1 design)."""

    code: str
    label: str
    ratio: int
    type: str = ""
    dose_order: int = 0
    dosing: str = ""


@dataclass(frozen=True)
class Factor:
    """A stratification factor: the randomization table's column ``name`` with these ``levels``."""

    name: str
    label: str
    levels: tuple[str, ...]


@dataclass(frozen=True)
class SiteEntry:
    site_id: str
    site_name: str
    city: str
    country: str
    region: str | None = None
    status: str | None = None
    duplicate_of: str | None = None


@dataclass(frozen=True)
class Window:
    """A visit window: on ``day`` (Day 1 = first dose) give or take ``tolerance_days``."""

    day: int
    tolerance_days: int = 0
    source: str = ""


@dataclass(frozen=True)
class Protocol:
    """A trial protocol as data. Build it with :func:`get_protocol` or :func:`load_protocol`."""

    id: str
    title: str
    phase: str
    arms: tuple[Arm, ...]
    reference_arm: str
    age_min_years: float
    age_max_years: float
    age_max_inclusive: bool
    planned_enrollment: int | None
    follow_up_years: float
    stratification: tuple[Factor, ...]
    block_sizes: tuple[int, ...]
    sites: tuple[SiteEntry, ...]
    countries: tuple[str, ...]
    endpoints: tuple[dict, ...]
    registry_ids: dict = field(default_factory=dict)
    start_date: date | None = None
    criteria: tuple[dict, ...] = ()
    source: str = ""
    windows: dict[str, Window] = field(default_factory=dict)
    raw: dict = field(default_factory=dict, repr=False, compare=False)

    # --- allocation -----------------------------------------------------------------------------
    @property
    def arm_codes(self) -> tuple[str, ...]:
        """Arm codes ordered by dose (control first), not by alphabet."""
        return tuple(a.code for a in sorted(self.arms, key=lambda a: a.dose_order))

    @property
    def ratio(self) -> dict[str, int]:
        """Allocation ratio as ``{arm code: integer share}`` in dose order."""
        return {a.code: a.ratio for a in sorted(self.arms, key=lambda a: a.dose_order)}

    @property
    def allocation_proportions(self) -> dict[str, Fraction]:
        """Planned proportion of each arm, exact (``{"InO": 2/3, "ALLR3": 1/3}``)."""
        total = sum(self.ratio.values())
        return {k: Fraction(v, total) for k, v in self.ratio.items()}

    @property
    def minimal_block(self) -> int:
        """Smallest block that realizes the ratio exactly (3 for 2:1)."""
        g = reduce(gcd, self.ratio.values())
        return sum(v // g for v in self.ratio.values())

    @property
    def experimental_arm(self) -> str:
        others = [a.code for a in self.arms if a.code != self.reference_arm]
        return others[0]

    # --- sites ----------------------------------------------------------------------------------
    def site_table(self, *, include_duplicates: bool = False):
        """The protocol's sites as a canonical ``sites`` frame (duplicate registry entries left out)."""
        import pandas as pd

        from ..model import empty_table

        rows = [s for s in self.sites if include_duplicates or s.duplicate_of is None]
        if not rows:
            return empty_table("sites")
        df = pd.DataFrame([{"site_id": s.site_id, "site_name": s.site_name, "city": s.city,
                            "region": s.region, "country": s.country, "activation_date": pd.NaT,
                            "status": s.status} for s in rows])
        out = empty_table("sites")
        return pd.concat([out, df], ignore_index=True).astype(out.dtypes.to_dict())

    def age_ok(self, age_years):
        """Vectorized check of the protocol's age limits (``max`` exclusive unless stated)."""
        import numpy as np

        a = np.asarray(age_years, dtype=float)
        upper = a <= self.age_max_years if self.age_max_inclusive else a < self.age_max_years
        return (a >= self.age_min_years) & upper

    def _repr_html_(self) -> str:  # pragma: no cover - presentation
        ratio = " : ".join(f"{k} {v}" for k, v in self.ratio.items())
        return (f"<b>{self.id}</b> — {self.title}<br>Phase {self.phase}; arms {ratio}; "
                f"{len(self.site_table())} sites; planned n = {self.planned_enrollment}")


def _as_tuple_of(cls, items, where):
    try:
        return tuple(cls(**i) for i in items or ())
    except TypeError as exc:
        raise ProtocolError(f"{where}: {exc}. Check the keys against trialkit.protocols.{cls.__name__}.") from None


def _windows(raw, where: str) -> dict[str, Window]:
    """The protocol's ``windows:`` mapping (name -> day, tolerance_days, source), checked."""
    out = {}
    for name, w in (raw or {}).items():
        if not isinstance(w, dict) or not isinstance(w.get("day"), int) \
                or not isinstance(w.get("tolerance_days", 0), int) or w.get("tolerance_days", 0) < 0:
            raise ProtocolError(f"{where}: window {name!r} needs an integer `day` and a non-negative integer "
                                f"`tolerance_days`, e.g. {{day: 28, tolerance_days: 2}}.")
        out[str(name)] = Window(day=w["day"], tolerance_days=w.get("tolerance_days", 0),
                                source=" ".join(str(w.get("source", "")).split()))
    return out


def parse_protocol(raw: dict[str, Any], source: str = "") -> Protocol:
    """Build a :class:`Protocol` from a mapping with the protocol file's keys (checked as a file is).

    ``source`` names where the mapping came from, for error messages and to find a neighbouring
    ``<id>.criteria.yaml``; leave it empty for a protocol built in code (e.g. from CDISC trial design).
    """
    missing = [k for k in ("id", "title", "arms", "age") if k not in raw]
    if missing:
        raise ProtocolError(f"{source}: missing key(s) {', '.join(missing)}; every protocol file needs them.")
    arms = _as_tuple_of(Arm, raw["arms"], f"{source}: arms")
    if len(arms) < 2:
        raise ProtocolError(f"{source}: a randomized protocol needs at least two arms, found {len(arms)}.")
    for a in arms:
        if not isinstance(a.ratio, int) or a.ratio < 1:
            raise ProtocolError(f"{source}: arm {a.code!r} has ratio {a.ratio!r}; give a positive integer.")
    ref = raw.get("reference_arm", arms[0].code)
    if ref not in {a.code for a in arms}:
        raise ProtocolError(f"{source}: reference_arm {ref!r} is not one of the arms.")
    strat = raw.get("stratification") or {}
    factors = tuple(Factor(name=f["name"], label=f.get("label", f["name"]), levels=tuple(f["levels"]))
                    for f in strat.get("factors", ()))
    sites = _as_tuple_of(SiteEntry, raw.get("sites"), f"{source}: sites")
    ids = [s.site_id for s in sites]
    if len(ids) != len(set(ids)):
        raise ProtocolError(f"{source}: site ids must be unique.")
    criteria = raw.get("criteria") or ()
    crit_file = Path(source).with_name(f"{raw['id']}.criteria.yaml") if source else None
    if not criteria and crit_file is not None and crit_file.exists():
        criteria = (_read_yaml(crit_file) or {}).get("criteria", ())
    age = raw["age"]
    rnd = raw.get("randomization") or {}
    return Protocol(
        id=str(raw["id"]).lower(),
        title=" ".join(str(raw["title"]).split()),
        phase=str(raw.get("phase", "")),
        arms=arms,
        reference_arm=ref,
        age_min_years=float(age["min_years"]),
        age_max_years=float(age["max_years"]),
        age_max_inclusive=bool(age.get("max_inclusive", False)),
        planned_enrollment=raw.get("planned_enrollment"),
        follow_up_years=float(raw.get("follow_up_years", 5)),
        stratification=factors,
        block_sizes=tuple(rnd.get("block_sizes") or ()),
        sites=sites,
        countries=tuple((raw.get("countries") or {}).get("registered", ())),
        endpoints=tuple(raw.get("endpoints") or ()),
        registry_ids=dict(raw.get("registry_ids") or {}),
        start_date=raw.get("start_date"),
        criteria=tuple(criteria),
        source=source,
        windows=_windows(raw.get("windows"), f"{source}: windows"),
        raw=raw,
    )


def load_protocol(path: str | os.PathLike) -> Protocol:
    """Read a protocol YAML file (and its ``<id>.criteria.yaml`` neighbour, if any)."""
    p = Path(path)
    if not p.exists():
        raise ProtocolError(f"protocol file {p} does not exist.")
    try:
        raw = _read_yaml(p)
    except yaml.YAMLError as exc:
        raise ProtocolError(f"{p}: not valid YAML ({exc}).") from None
    if not isinstance(raw, dict):
        raise ProtocolError(f"{p}: expected a mapping at the top level.")
    return parse_protocol(raw, str(p))


def _search_dirs() -> list[Path]:
    extra = [Path(d) for d in os.environ.get("TRIALKIT_PROTOCOLS", "").split(os.pathsep) if d]
    return [*extra, _HERE]


@cache
def _cached(path: str, mtime: float) -> Protocol:
    return load_protocol(path)


def protocols() -> list[str]:
    """Ids of the protocols trialkit knows (the shipped ones and any in ``TRIALKIT_PROTOCOLS``)."""
    ids = set()
    for d in _search_dirs():
        for f in d.glob("*.yaml"):
            if not f.name.endswith(".criteria.yaml"):
                ids.add(f.stem.lower())
    return sorted(ids)


def get_protocol(protocol_id: str | Protocol) -> Protocol:
    """Return a known protocol by id (case-insensitive), e.g. ``get_protocol("b1931036")``.

    Examples
    --------
    >>> import trialkit as tk
    >>> tk.get_protocol("b1931036").ratio
    {'ALLR3': 1, 'InO': 2}
    """
    if isinstance(protocol_id, Protocol):
        return protocol_id
    key = str(protocol_id).strip().lower()
    for d in _search_dirs():
        f = d / f"{key}.yaml"
        if f.exists():
            return _cached(str(f), f.stat().st_mtime)
    raise ProtocolError(f"unknown protocol {protocol_id!r}; known protocols: {', '.join(protocols())}. "
                        "Add a YAML file to a folder named in TRIALKIT_PROTOCOLS or use load_protocol(path).")


class _CallableModule(__import__("types").ModuleType):
    """``trialkit.protocols`` is both this subpackage and the public function ``protocols()``.

    Importing a subpackage binds its module to the parent's attribute of the same name, which would
    shadow the function; making the module callable keeps ``trialkit.protocols()`` working whichever
    is bound.
    """

    def __call__(self) -> list[str]:
        return protocols()


__import__("sys").modules[__name__].__class__ = _CallableModule
