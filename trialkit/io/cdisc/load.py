""":func:`load_cdisc`: read the ``.xpt`` files of two folders and map them with :func:`map_cdisc`."""

from __future__ import annotations

import os
from pathlib import Path

from ...errors import StudyFolderError
from ...protocols import Protocol
from ...study import Study
from ..sas import read_xpt
from .mapping import ADAM_DATASETS, SDTM_DOMAINS, map_cdisc

__all__ = ["load_cdisc"]


def _find(folder: Path, name: str) -> Path | None:
    hits = [p for p in folder.iterdir() if p.is_file() and p.name.lower() == f"{name}.xpt"]
    return hits[0] if hits else None


def load_cdisc(sdtm: str | os.PathLike, adam: str | os.PathLike | None = None, *,
               protocol: str | os.PathLike | Protocol | None = None, validate: bool = True) -> Study:
    """Load CDISC SDTM (and optionally ADaM) SAS transport files as a validated :class:`Study`.

    Reads ``dm.xpt`` (required) and, when present, ``ds``, ``sv``, ``suppds``, ``ie``, ``ta``,
    ``ti``, ``ts``, ``ae`` from ``sdtm`` and ``adsl``, ``adtte``, ``adae`` from ``adam`` (file names are matched
    case-insensitively), then maps them with :func:`map_cdisc`. The module docstring lists what maps
    to what and every choice made: screening date from the SV screening visit, randomization date
    from ADSL ``RANDDT`` else DS RANDOMIZED else the SV baseline visit else DM ``RFSTDTC``, planned
    (``ARMCD``) and actual (``ACTARMCD``) arms kept apart, arms ordered by dose.

    Parameters
    ----------
    sdtm : str or path-like
        Folder of SDTM ``.xpt`` files.
    adam : str or path-like, optional
        Folder of ADaM ``.xpt`` files. Without it there are no outcomes and disposition lacks
        ADSL's treatment dates, population flags and baseline covariates.
    protocol : str, path-like or Protocol, optional
        A known protocol id, a protocol YAML file or a :class:`~trialkit.protocols.Protocol`.
        Default: built from the trial design domains (TA arms with equal allocation, TI criteria as
        text), see :func:`protocol_from_sdtm`.
    validate : bool, default True
        Raise one :class:`~trialkit.errors.DataValidationError` listing every mapping and model
        problem. With ``False`` the study is returned as mapped (unreadable values left missing and
        counted in ``Study.notes``); missing required variables always raise.

    Returns
    -------
    Study
        ``source`` is ``"cdisc:<STUDYID>"``; ``notes`` records each choice with its counts;
        ``adam`` holds ADSL, ADTTE and ADAE as read (every variable, ``subject_id`` added);
        ``adverse_events`` come from ADAE, else SDTM AE (:func:`trialkit.io.adae.map_adverse_events`).

    Raises
    ------
    StudyFolderError
        A folder or ``dm.xpt`` is missing, or a file is not SAS transport.
    DataValidationError
        With ``failure_cases`` naming file (e.g. ``dm.xpt``), record number and variable.

    Examples
    --------
    >>> import trialkit as tk
    >>> study = tk.load_cdisc(sdtm="cdiscpilot01/sdtm", adam="cdiscpilot01/adam")  # doctest: +SKIP
    >>> study.protocol.arm_codes  # doctest: +SKIP
    ('Pbo', 'Xan_Lo', 'Xan_Hi')
    """
    folders = {"sdtm": Path(sdtm)}
    if adam is not None:
        folders["adam"] = Path(adam)
    for kind, f in folders.items():
        if not f.is_dir():
            raise StudyFolderError(f"{f} is not a folder; give the folder that holds the {kind.upper()} .xpt files.")
    domains, files = {}, {}
    for kind, names in (("sdtm", SDTM_DOMAINS), ("adam", ADAM_DATASETS)):
        if kind not in folders:
            continue
        for name in names:
            p = _find(folders[kind], name)
            if p is not None:
                domains[name], files[name] = read_xpt(p), p.name
    if "dm" not in domains:
        raise StudyFolderError(f"{folders['sdtm']}: no dm.xpt; the DM domain is required (it lists every subject).")
    return map_cdisc(domains, protocol=protocol, validate=validate, files=files)


