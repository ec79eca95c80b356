"""Allocation schedules: generate, export, re-read and verify randomization lists.

A schedule is one list of treatment assignments per stratum. Two algorithms are offered:

``"blocks"``
    Permuted blocks whose sizes are drawn at random from multiples of the protocol's minimal block
    (3 for 2:1, 2 for 1:1). Each block holds the arms exactly in the protocol ratio, in random order.
``"complete"``
    Complete (simple) randomization: each assignment is drawn independently with the planned
    probabilities (2/3 and 1/3 for 2:1).

Every stratum draws from its own random stream, derived from the master ``seed`` and a stable
SHA-256 hash of the stratum's key (``numpy.random.SeedSequence(seed, spawn_key=...)``). Adding a
stratum (a new site, say) therefore never changes the list of an existing one, and the same inputs
give the same lists on every platform and numpy version that keeps PCG64 and SeedSequence stable.

The ratio is always read from the protocol (:attr:`trialkit.protocols.Protocol.ratio`).

References
----------
Rosenberger WF, Lachin JM. *Randomization in Clinical Trials: Theory and Practice*, 2nd ed.
Wiley, 2016, ch. 3 (complete randomization, permuted blocks, random block sizes).
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from ..errors import ScheduleError
from ..io.export import csv_text
from ..protocols import Protocol, get_protocol
from ..results import Result

__all__ = ["Schedule", "ScheduleCheck", "generate_schedule", "verify_schedule", "read_schedule",
           "stratum_rng", "ALGORITHMS"]

ALGORITHMS = ("blocks", "complete")
SCHEDULE_COLUMNS = ["stratum", "sequence", "block", "block_size", "arm"]
_SITE_FACTORS = ("site_id", "country", "region")


def _version() -> str:
    import trialkit

    return trialkit.__version__


def stratum_key(factors: dict[str, str]) -> str:
    """The stable text key of a stratum: ``name=value`` pairs joined by ``|`` in the given order.

    An unstratified schedule has the key ``""`` (one stratum, ``"all"``).
    """
    return "|".join(f"{k}={v}" for k, v in factors.items())


def stratum_rng(seed: int, key: str) -> np.random.Generator:
    """The random generator of one stratum: master ``seed`` plus a SHA-256 hash of its ``key``.

    The hash's first 16 bytes become four 32-bit words of the ``spawn_key`` of a
    :class:`numpy.random.SeedSequence`, so streams of different strata are independent and a
    stratum's stream does not depend on which other strata exist.
    """
    digest = hashlib.sha256(key.encode("utf-8")).digest()
    words = tuple(int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4))
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=words)))


def _block_sizes(protocol: Protocol, block_sizes) -> tuple[int, ...]:
    m = protocol.minimal_block
    sizes = tuple(block_sizes) if block_sizes is not None else (protocol.block_sizes or (m, 2 * m))
    bad = [b for b in sizes if not isinstance(b, int | np.integer) or b < m or b % m]
    if not sizes or bad:
        raise ScheduleError(
            f"block sizes {list(sizes)} for protocol {protocol.id}: every block size must be a positive "
            f"multiple of the minimal block {m} (the ratio {protocol.ratio} needs {m} patients per "
            f"complete block); use e.g. block_sizes=({m}, {2 * m}).")
    return tuple(int(b) for b in sizes)


def _levels(protocol: Protocol, strata, levels) -> dict[str, tuple[str, ...]]:
    levels = dict(levels or {})
    out: dict[str, tuple[str, ...]] = {}
    factors = {f.name: f.levels for f in protocol.stratification}
    for name in strata:
        if name in levels:
            vals = tuple(str(v) for v in levels[name])
        elif name in factors:
            vals = tuple(factors[name])
        elif name in _SITE_FACTORS:
            sites = protocol.site_table()
            vals = tuple(pd.unique(sites[name].dropna().astype(str)))
        else:
            known = ", ".join([*factors, *_SITE_FACTORS])
            raise ScheduleError(f"unknown stratification factor {name!r} for protocol {protocol.id}; "
                                f"use one of {known}, or give its levels with levels={{{name!r}: [...]}}.")
        if not vals:
            raise ScheduleError(f"factor {name!r} has no levels in protocol {protocol.id} (it lists no sites); "
                                f"pass them with levels={{{name!r}: [...]}}.")
        if len(set(vals)) != len(vals):
            raise ScheduleError(f"factor {name!r} has repeated levels {list(vals)}; give each level once.")
        out[name] = vals
    extra = set(levels) - set(strata)
    if extra:
        raise ScheduleError(f"levels given for {sorted(extra)} which are not in strata={list(strata)}; "
                            "add them to strata or drop them from levels.")
    return out


def _arm_pool(protocol: Protocol) -> tuple[np.ndarray, np.ndarray]:
    codes = np.array(list(protocol.ratio), dtype=object)
    shares = np.array(list(protocol.ratio.values()), dtype=int)
    return codes, shares


def _one_stratum(rng: np.random.Generator, protocol: Protocol, n: int, algorithm: str,
                 sizes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """One stratum's list: the arms, block numbers and block sizes (``None`` for complete randomization)."""
    codes, shares = _arm_pool(protocol)
    m = protocol.minimal_block
    if algorithm == "complete":
        p = shares / shares.sum()
        return codes[rng.choice(len(codes), size=n, p=p)], None, None
    base = np.repeat(np.arange(len(codes)), shares // np.gcd.reduce(shares))
    seq, blk, bsz, total, b = [], [], [], 0, 0
    while total < n:
        size = int(rng.choice(sizes))
        block = rng.permutation(np.tile(base, size // m))
        b += 1
        seq.append(block)
        blk.append(np.full(size, b))
        bsz.append(np.full(size, size))
        total += size
    return codes[np.concatenate(seq)], np.concatenate(blk), np.concatenate(bsz)


def _hash_frame(df: pd.DataFrame, params: dict) -> str:
    h = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
    buf = io.StringIO()
    df.astype("string").fillna("").to_csv(buf, index=False, lineterminator="\n")
    h.update(buf.getvalue().encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Schedule(Result):
    """A generated allocation schedule and what is needed to regenerate it.

    Attributes
    ----------
    summary : pandas.DataFrame
        Per stratum: ``stratum, n`` and the count per arm (property).
    allocations : pandas.DataFrame
        One row per allocation slot: ``stratum`` (factor values joined by ``" / "``; ``"all"``
        when unstratified), one column per stratification factor, ``sequence`` (1-based within
        the stratum), ``block`` and ``block_size`` (empty for complete randomization), ``arm``.
    protocol_id, algorithm, seed, block_sizes, n_per_stratum, strata, levels
        The inputs (enough to regenerate the list with :func:`verify_schedule`).
    trialkit_version : str
        The version that generated the list.
    hash : str
        SHA-256 over the parameters and the list, hex.
    """

    allocations: pd.DataFrame = field(repr=False)
    protocol_id: str
    algorithm: str
    seed: int
    block_sizes: tuple[int, ...]
    n_per_stratum: int
    strata: tuple[str, ...]
    levels: dict = field(repr=False)
    ratio: dict = field(default_factory=dict)
    trialkit_version: str = ""
    hash: str = ""

    @property
    def params(self) -> dict:
        """The generation parameters (what the hash covers besides the list itself)."""
        return {"protocol_id": self.protocol_id, "algorithm": self.algorithm, "seed": self.seed,
                "block_sizes": list(self.block_sizes), "n_per_stratum": self.n_per_stratum,
                "strata": list(self.strata), "levels": {k: list(v) for k, v in self.levels.items()},
                "ratio": dict(self.ratio)}

    def metadata(self) -> dict:
        """Parameters plus ``trialkit_version`` and ``hash``."""
        return {**self.params, "trialkit_version": self.trialkit_version, "hash": self.hash}

    analysis: ClassVar[str] = "generate_schedule"
    part_keys: ClassVar[dict] = {"allocations": ("stratum", "sequence")}

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "allocations": self.allocations}

    def settings(self) -> dict:
        meta = self.metadata()
        return {k: (json.dumps(v) if isinstance(v, dict) else v) for k, v in meta.items()}

    def title(self) -> str:
        return (f"Allocation schedule — protocol {self.protocol_id}, {self.algorithm}, seed {self.seed}, "
                f"{self.allocations['stratum'].nunique()} strata, {len(self.allocations)} slots; "
                f"trialkit {self.trialkit_version}; sha256 {self.hash[:16]}…")

    def html_parts(self):
        return [("per stratum", self.summary.head(30))]

    def to_csv(self, path: str | PathLike) -> Path:
        """Write the list as CSV with the parameters in leading ``# key: value`` lines; return the path.

        :func:`read_schedule` reads it back; :func:`verify_schedule` checks it.
        """
        path = Path(path)
        lines = ["# trialkit allocation schedule"]
        for k, v in self.metadata().items():
            lines.append(f"# {k}: {json.dumps(v)}")
        buf = io.StringIO()
        buf.write(csv_text(self.allocations))
        path.write_text("\n".join(lines) + "\n" + buf.getvalue(), encoding="utf-8")
        return path

    @property
    def summary(self) -> pd.DataFrame:
        """Per stratum: list length and count per arm."""
        t = self.allocations
        out = pd.crosstab(t["stratum"], t["arm"]).reindex(columns=list(self.ratio), fill_value=0)
        out.insert(0, "n", out.sum(axis=1))
        out.columns.name = None
        return out.reset_index()


def generate_schedule(protocol: str | Protocol, *, n_per_stratum: int, seed: int,
                      strata: tuple[str, ...] | list[str] = (), levels: dict | None = None,
                      algorithm: str = "blocks", block_sizes: tuple[int, ...] | None = None) -> Schedule:
    """Generate an allocation schedule for every stratum of a protocol.

    Parameters
    ----------
    protocol : str or Protocol
        The protocol (id or object); its ``ratio`` and ``minimal_block`` drive the lists.
    n_per_stratum : int
        Minimum number of slots per stratum. With ``"blocks"`` the list is completed to the end of
        its last block, so a stratum may hold a few more slots (never a partial block).
    seed : int
        Master seed (a non-negative integer). Record it; it and the parameters regenerate the list.
    strata : sequence of str
        Factors to stratify by, in order: protocol stratification factors (e.g. ``"age_group"``),
        ``"site_id"``, ``"country"`` or ``"region"`` (levels from the protocol's site list), or any
        name whose levels you give in ``levels``. Empty: one unstratified list.
    levels : dict, optional
        ``{factor: [levels]}`` overriding or supplying the levels of a factor.
    algorithm : {"blocks", "complete"}
    block_sizes : tuple of int, optional
        Block sizes drawn uniformly at random per block. Default: the protocol's
        ``randomization.block_sizes``, else (m, 2m) with m the minimal block. Each must be a
        multiple of the minimal block.

    Returns
    -------
    Schedule
        ``.allocations`` holds ``stratum, <factors...>, sequence, block, block_size, arm``; ``.summary`` the counts per stratum.

    Examples
    --------
    >>> import trialkit as tk
    >>> s = tk.generate_schedule("b1931036", n_per_stratum=12, seed=20230517, strata=["age_group"])
    >>> s.summary  # each list ends on a complete block of 3 or 6, so 12 or 15 slots
               stratum   n  ALLR3  InO
    0   1 to <10 years  12      4    8
    1  10 to <18 years  15      5   10
    """
    protocol = get_protocol(protocol)
    if algorithm not in ALGORITHMS:
        raise ScheduleError(f"unknown algorithm {algorithm!r}; use one of {', '.join(ALGORITHMS)}.")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ScheduleError(f"seed must be a non-negative integer, got {seed!r}; record the seed you use.")
    if isinstance(n_per_stratum, bool) or not isinstance(n_per_stratum, int | np.integer) or n_per_stratum < 1:
        raise ScheduleError(f"n_per_stratum must be a positive integer, got {n_per_stratum!r}.")
    if isinstance(strata, str):
        strata = (strata,)
    strata = tuple(strata)
    if len(set(strata)) != len(strata):
        raise ScheduleError(f"strata repeats a factor: {list(strata)}.")
    sizes = _block_sizes(protocol, block_sizes) if algorithm == "blocks" else ()
    lv = _levels(protocol, strata, levels)
    table = _allocations(protocol, int(n_per_stratum), int(seed), strata, lv, algorithm, sizes)
    sched = Schedule(allocations=table, protocol_id=protocol.id, algorithm=algorithm, seed=int(seed),
                     block_sizes=sizes, n_per_stratum=int(n_per_stratum), strata=strata,
                     levels={k: tuple(v) for k, v in lv.items()}, ratio=dict(protocol.ratio),
                     trialkit_version=_version())
    return Schedule(**{**sched.__dict__, "hash": _hash_frame(table, sched.params)})


def stratum_allocations(protocol: Protocol, *, n_per_stratum: int, seed: int, strata: tuple[str, ...],
                        levels: dict) -> pd.DataFrame:
    """``generate_schedule(protocol, n_per_stratum=..., seed=..., strata=..., levels=...).allocations`` with
    its default algorithm and block sizes, without the :class:`Schedule` around it and its hash: the
    same list, for a caller that only draws arms (the synthetic data generator)."""
    lv = _levels(protocol, strata, levels)
    return _allocations(protocol, n_per_stratum, seed, strata, lv, "blocks", _block_sizes(protocol, None))


def _allocations(protocol: Protocol, n_per_stratum: int, seed: int, strata: tuple[str, ...], lv: dict,
                 algorithm: str, sizes: tuple[int, ...]) -> pd.DataFrame:
    """Every stratum's list, one after another: one frame built from arrays (not a frame per stratum, inserted
    into and concatenated, which cost about 4 ms per stratum)."""
    taken = [name for name in strata if name in SCHEDULE_COLUMNS]
    if taken:
        raise ScheduleError(f"stratification factor `{taken[0]}` has the name of a column of the schedule "
                            f"({', '.join(SCHEDULE_COLUMNS)}); give the factor another name in `strata` "
                            "(and `levels`) or in the protocol's stratification")
    combos = list(itertools.product(*lv.values())) if lv else [()]
    lists = [_one_stratum(stratum_rng(seed, stratum_key(dict(zip(strata, combo)))), protocol, n_per_stratum,
                          algorithm, sizes) for combo in combos]
    length = np.array([len(arms) for arms, _, _ in lists], dtype=np.int64)

    def per_stratum(labels: list[str]):  # one value per stratum, repeated over its slots
        return pd.array(np.repeat(np.asarray(labels, dtype=object), length), dtype="string")

    def per_slot(parts: list):  # block numbers or sizes; empty for complete randomization
        if algorithm == "complete":
            return pd.array([pd.NA] * int(length.sum()), dtype="Int64")
        return pd.array(np.concatenate(parts), dtype="Int64")

    table = {"stratum": per_stratum([" / ".join(c) if c else "all" for c in combos]),
             **{name: per_stratum([c[i] for c in combos]) for i, name in enumerate(strata)},
             "sequence": pd.array(np.concatenate([np.arange(1, k + 1) for k in length]), dtype="Int64"),
             "block": per_slot([blk for _, blk, _ in lists]), "block_size": per_slot([bsz for _, _, bsz in lists]),
             "arm": pd.array(np.concatenate([arms for arms, _, _ in lists]), dtype="string")}
    return pd.DataFrame(table)


def read_schedule(path: str | PathLike) -> Schedule:
    """Read a schedule written by :meth:`Schedule.to_csv` (parameters from its ``#`` header lines)."""
    path = Path(path)
    if not path.exists():
        raise ScheduleError(f"schedule file {path} does not exist.")
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    meta, body = {}, []
    for line in text:
        if line.startswith("# ") and ":" in line and not body:
            k, v = line[2:].split(":", 1)
            try:
                meta[k.strip()] = json.loads(v)
            except json.JSONDecodeError:
                raise ScheduleError(f"{path}: header line {line.strip()!r} is not valid; "
                                    "regenerate the file with Schedule.to_csv.") from None
        elif not line.startswith("#"):
            body.append(line)
    need = {"protocol_id", "algorithm", "seed", "block_sizes", "n_per_stratum", "strata", "levels", "hash"}
    missing = need - set(meta)
    if missing:
        raise ScheduleError(f"{path}: header lacks {sorted(missing)}; it was not written by Schedule.to_csv "
                            "(or was edited). Keep the '# key: value' lines the export writes.")
    table = pd.read_csv(io.StringIO("".join(body)), dtype="string", keep_default_na=False)
    for c in ("sequence", "block", "block_size"):
        if c in table:
            table[c] = pd.to_numeric(table[c].replace("", pd.NA)).astype("Int64")
    return Schedule(allocations=table, protocol_id=meta["protocol_id"], algorithm=meta["algorithm"], seed=int(meta["seed"]),
                    block_sizes=tuple(meta["block_sizes"]), n_per_stratum=int(meta["n_per_stratum"]),
                    strata=tuple(meta["strata"]),
                    levels={k: tuple(v) for k, v in meta["levels"].items()}, ratio=meta.get("ratio", {}),
                    trialkit_version=meta.get("trialkit_version", ""), hash=meta["hash"])


@dataclass(frozen=True)
class ScheduleCheck(Result):
    """Result of :func:`verify_schedule`.

    Attributes
    ----------
    ok : bool
        True when the regenerated list equals the stored one slot by slot and the hashes agree.
    n_slots, n_mismatched : int
    stored_hash, recomputed_hash : str
    hash_matches : bool
        The stored hash equals the hash recomputed over the stored list (detects edits).
    differences : pandas.DataFrame
        ``stratum, sequence, stored_arm, regenerated_arm`` for every differing slot (missing
        slots on either side appear with an empty arm).
    """

    ok: bool
    n_slots: int
    n_mismatched: int
    stored_hash: str
    recomputed_hash: str
    hash_matches: bool
    generated_by: str
    differences: pd.DataFrame = field(repr=False)

    analysis: ClassVar[str] = "verify_schedule"
    part_keys: ClassVar[dict] = {"differences": ("stratum", "sequence")}

    @property
    def summary(self) -> pd.DataFrame:
        """One row: ``ok, n_slots, n_mismatched, hash_matches, stored_hash, recomputed_hash, generated_by``."""
        return pd.DataFrame([{"ok": self.ok, "n_slots": self.n_slots, "n_mismatched": self.n_mismatched,
                              "hash_matches": self.hash_matches, "stored_hash": self.stored_hash,
                              "recomputed_hash": self.recomputed_hash, "generated_by": self.generated_by}])

    def parts(self) -> dict[str, pd.DataFrame]:
        return {"summary": self.summary, "differences": self.differences}

    def title(self) -> str:
        verdict = "verified" if self.ok else "NOT verified"
        return (f"Schedule {verdict}: {self.n_slots} slots, {self.n_mismatched} differ; stored hash "
                f"{'matches' if self.hash_matches else 'does NOT match'} the list")

    def html_parts(self):
        return [("differing slots (first 20)", self.differences.head(20))] if self.n_mismatched else []


def verify_schedule(data: Schedule | str | PathLike) -> ScheduleCheck:
    """Regenerate a schedule from its stored parameters and compare it slot by slot.

    Parameters
    ----------
    data : Schedule or path
        The schedule to check: a :class:`Schedule` or a CSV written by :meth:`Schedule.to_csv`.

    Returns
    -------
    ScheduleCheck

    Examples
    --------
    >>> import trialkit as tk
    >>> s = tk.generate_schedule("b1931036", n_per_stratum=6, seed=1)
    >>> tk.verify_schedule(s).ok
    True
    """
    schedule = data if isinstance(data, Schedule) else read_schedule(data)
    regen = generate_schedule(schedule.protocol_id, n_per_stratum=schedule.n_per_stratum, seed=schedule.seed,
                              strata=schedule.strata, levels=dict(schedule.levels),
                              algorithm=schedule.algorithm, block_sizes=schedule.block_sizes or None)
    if schedule.ratio and dict(schedule.ratio) != dict(regen.ratio):
        raise ScheduleError(f"the schedule was generated with ratio {schedule.ratio} but protocol "
                            f"{schedule.protocol_id} now says {regen.ratio}; verify against the protocol version "
                            "used at generation.")
    stored = schedule.allocations
    missing = [c for c in ("stratum", "sequence", "arm") if c not in stored]
    if missing:
        raise ScheduleError(f"the stored schedule lacks column(s) {missing}; it needs stratum, sequence and arm.")
    key = ["stratum", "sequence"]
    a = stored[key + ["arm"]].astype({"stratum": "string", "sequence": "Int64", "arm": "string"})
    b = regen.allocations[key + ["arm"]]
    m = a.merge(b, on=key, how="outer", suffixes=("_stored", "_regen"), indicator=True)
    diff = m[(m["_merge"] != "both") | (m["arm_stored"].fillna("") != m["arm_regen"].fillna(""))]
    diff = diff.rename(columns={"arm_stored": "stored_arm", "arm_regen": "regenerated_arm"})[
        ["stratum", "sequence", "stored_arm", "regenerated_arm"]].reset_index(drop=True)
    recomputed = _hash_frame(stored.astype("string"), schedule.params) if len(stored) else ""
    hash_ok = recomputed == schedule.hash and regen.hash == schedule.hash
    return ScheduleCheck(ok=bool(len(diff) == 0 and hash_ok), n_slots=len(stored), n_mismatched=len(diff),
                         stored_hash=schedule.hash, recomputed_hash=recomputed, hash_matches=hash_ok,
                         generated_by=schedule.trialkit_version, differences=diff)
