"""Site ids as safe file names, and the guarantee that nothing is written outside the output folder.

A site id comes from data (a sponsor's export, a CSV typed by hand), so it may hold anything: path
separators (``../x``), quotes, spaces, control characters or unicode. A report file name is derived
from it in a way that

* keeps ordinary ids readable (``DE06`` → ``DE06.html``);
* turns anything else into ASCII letters, digits, ``-``, ``_`` and ``.`` plus a short hash of the
  original id, so two different ids never share a file (``../x`` → ``x-1b4f0e98.html``);
* avoids names that differ only by case, which collide on case-insensitive file systems.

Ids that are not text, are empty, contain control characters or are longer than
:data:`MAX_ID_LENGTH` are refused with a :class:`~trialkit.errors.ReportError` before any kernel
starts.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path

from ..errors import ReportError

__all__ = ["safe_name", "safe_names", "check_site_id", "inside", "MAX_ID_LENGTH"]

MAX_ID_LENGTH = 100
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_RESERVED = {"index", "manifest", "assets", "con", "prn", "aux", "nul"}


def check_site_id(site_id) -> str:
    """Return ``site_id`` if it can name a report, else raise :class:`ReportError` saying why."""
    if not isinstance(site_id, str):
        raise ReportError(f"site id {site_id!r} is not text; site ids must be strings (read them as text).")
    if not site_id.strip():
        raise ReportError("an empty site id cannot name a report; give every site a non-blank id.")
    if len(site_id) > MAX_ID_LENGTH:
        raise ReportError(f"site id {site_id[:20]!r}… is {len(site_id)} characters long; the limit is "
                          f"{MAX_ID_LENGTH}. Shorten the id in the sites table.")
    bad = [c for c in site_id if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn")]
    if bad:
        raise ReportError(f"site id {site_id!r} contains control or invisible character(s) "
                          f"{', '.join(repr(c) for c in bad)}; remove them from the sites table.")
    return site_id


def _slug(site_id: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", site_id).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^A-Za-z0-9_-]+", "_", ascii_).strip("_-.")
    return slug[:40] or "site"


def safe_name(site_id: str) -> str:
    """A file-name stem for one site id (no extension, no separators, never ``.`` or ``..``).

    Examples
    --------
    >>> safe_name("DE06")
    'DE06'
    >>> safe_name("../x")
    'x-d6b96a97'
    """
    check_site_id(site_id)
    if _PLAIN.match(site_id) and site_id.lower() not in _RESERVED:
        return site_id
    digest = hashlib.sha256(site_id.encode("utf-8")).hexdigest()[:8]
    return f"{_slug(site_id)}-{digest}"


def safe_names(site_ids) -> dict[str, str]:
    """Safe names for many ids, unique even on case-insensitive file systems."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for sid in site_ids:
        name = safe_name(sid)
        key = name.casefold()
        if key in seen and seen[key] != sid:
            name = f"{_slug(sid)}-{hashlib.sha256(sid.encode('utf-8')).hexdigest()[:8]}"
            key = name.casefold()
            if key in seen:  # pragma: no cover - a sha256 prefix collision
                raise ReportError(f"site ids {seen[key]!r} and {sid!r} map to the same file name; rename one.")
        seen[key] = sid
        out[sid] = name
    return out


def inside(root: str | os.PathLike, *parts: str) -> Path:
    """``root/parts…`` resolved, refusing any path that would leave ``root``."""
    base = Path(root).resolve()
    target = base.joinpath(*parts).resolve()
    if target != base and base not in target.parents:
        raise ReportError(f"refusing to write {target}: it lies outside the output folder {base}.")
    return target
