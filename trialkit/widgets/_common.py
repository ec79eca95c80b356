"""Wiring shared by the explorers."""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import TrialkitError


def as_study_map(studies, explorer: str) -> dict:
    """One study, a list of studies or a ``{name: study}`` mapping → ``{name: study}``.

    Raises a :class:`~trialkit.errors.TrialkitError` naming ``explorer`` when there is no study.
    """
    if hasattr(studies, "protocol"):
        studies = {studies.protocol.id: studies}
    elif not isinstance(studies, Mapping):
        studies = {s.protocol.id: s for s in studies}
    studies = dict(studies)
    if not studies:
        raise TrialkitError(f"{explorer} needs at least one study; load one with tk.load_study(...).")
    return studies
