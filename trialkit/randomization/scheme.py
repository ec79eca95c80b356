"""Randomization schemes: what a protocol declares, and what a simulation or a monitoring check re-runs."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SimulationError
from ..protocols import Protocol, get_protocol

__all__ = ["Scheme", "SCHEMES", "protocol_scheme", "SimulationError"]

SCHEMES = ("complete", "blocks", "minimization")


@dataclass(frozen=True)
class Scheme:
    """A randomization scheme.

    Parameters
    ----------
    algorithm : {"complete", "blocks", "minimization"}
    strata : tuple of str
        Factors whose combinations define the strata (``blocks``) or the factors minimized over
        (``minimization``). Any column of the accrual frame: ``site_id``, ``country``, protocol factors.
    block_sizes : tuple of int, optional
        For ``blocks``; multiples of the minimal block. Default: the protocol's, else (m, 2m).
    p_best : float
        For ``minimization``: probability of taking the sub-arm that minimizes imbalance.
    label : str, optional
        Display name; built from the other fields when empty.
    """

    algorithm: str = "blocks"
    strata: tuple[str, ...] = ()
    block_sizes: tuple[int, ...] | None = None
    p_best: float = 0.8
    label: str = ""

    def __post_init__(self):
        if self.algorithm not in SCHEMES:
            raise SimulationError(f"unknown scheme {self.algorithm!r}; use one of {', '.join(SCHEMES)}.")
        if isinstance(self.strata, str):
            object.__setattr__(self, "strata", (self.strata,))
        object.__setattr__(self, "strata", tuple(self.strata))
        if not 0 < self.p_best <= 1:
            raise SimulationError(f"p_best must lie in (0, 1], got {self.p_best}.")
        if not self.label:
            by = f" by {' × '.join(self.strata)}" if self.strata else ""
            name = {"complete": "complete randomization", "blocks": "permuted blocks",
                    "minimization": "minimization"}[self.algorithm]
            if self.algorithm == "complete":
                by = ""
            object.__setattr__(self, "label", name + by)

    @classmethod
    def parse(cls, spec: str | Scheme) -> Scheme:
        """``"complete"``, ``"blocks"``, ``"blocks by site_id"``, ``"minimization by a+b"`` → Scheme."""
        if isinstance(spec, Scheme):
            return spec
        if not isinstance(spec, str):
            raise SimulationError(f"a scheme is a Scheme or a string like 'blocks by site_id', got {spec!r}.")
        algo, _, by = spec.strip().partition(" by ")
        factors = tuple(f.strip() for f in by.replace("×", "+").split("+") if f.strip())
        return cls(algorithm=algo.strip(), strata=factors)


def protocol_scheme(protocol: str | Protocol) -> Scheme:
    """The scheme a protocol declares (``randomization.method`` and its stratification factors)."""
    p = get_protocol(protocol)
    factors = tuple(f.name for f in p.stratification)
    stated = (p.raw.get("randomization") or {}).get("method")
    if not stated:
        return Scheme("blocks", strata=factors, block_sizes=p.block_sizes or None,
                      label="assumed: permuted blocks" + (f" by {' × '.join(factors)}" if factors else "")
                      + " (the protocol states no method)")
    method = str(stated).lower()
    if "minimi" in method:
        return Scheme("minimization", strata=factors, label=f"protocol: minimization ({method})")
    if "block" in method:
        by = factors if "stratified" in method else ()
        return Scheme("blocks", strata=by, block_sizes=p.block_sizes or None,
                      label=f"protocol: {method}" + (f" by {' × '.join(by)}" if by else ""))
    return Scheme("complete", label=f"protocol: {method}")
