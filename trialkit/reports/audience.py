"""Report audiences — who may see what — and the study's reporting setting.

Three audiences, each with its own template, output layout and data:

``site``
    One page per site: the site's own patients (their allocation by arm; their results pooled over
    arms, unless reporting is open) and study-wide figures pooled over arms. Small cells of the
    study figures are suppressed.
``study``
    One page for the sponsor's or group's blinded study team: the whole trial pooled over arms —
    enrollment, screening, eligibility, the site league table, allocation checks (allocation counts
    are not outcomes) and pooled outcome and event counts.
``dsmb``
    The closed report for the Data Monitoring Committee: everything by arm. Every page carries the
    :data:`CLOSED_BANNER`, is written to its own output folder and its manifest records the audience.

In a running randomized trial, comparative results by arm (efficacy and safety) are for the Data
Monitoring Committee only (FDA guidance on DMCs, 2006, section 6; ICH E9 section 4.1; the open and
closed reports of a DMC charter). What enters each audience's kernel decides what it can show: the
runner prepares the data of each audience (:mod:`trialkit.reports.data`) and only ``dsmb`` receives
outcome rows with their arms.

A protocol file may declare more permissive reporting — a completed trial whose comparison is
public — with::

    reporting:
      comparative_outcomes: open     # default: closed
      reason: primary analysis published (Lancet 2031); trial closed to accrual

Then the site and study reports also show study-wide outcome counts by arm, each page saying so and
why. It is off by default and needs a reason. (A study's own protocol file is named in its
``study.yaml``, ``protocol: my_protocol.yaml``; ``study.yaml`` itself has no ``reporting:`` key.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import ReportError

__all__ = ["Audience", "AUDIENCES", "Reporting", "reporting_setting", "get_audience", "CLOSED_BANNER"]

TEMPLATES = Path(__file__).parent / "templates"
CLOSED_BANNER = "CLOSED — for the Data Monitoring Committee only"


@dataclass(frozen=True)
class Audience:
    """One audience: its template, the parameters its template must declare, where its pages go."""

    name: str
    label: str
    template: Path
    required: tuple[str, ...]
    closed: bool = False  # pages carry CLOSED_BANNER and the output folder is the audience's own
    per_site: bool = False  # one page per site (else one page for the whole study)

    @property
    def folder(self) -> str:
        """Sub-folder of the output folder holding the pages."""
        return "sites" if self.per_site else "pages"

    @property
    def entries_key(self) -> str:
        """The manifest key of the per-page entries."""
        return "sites" if self.per_site else "pages"


AUDIENCES = {
    "site": Audience("site", "Site report", TEMPLATES / "site_report.ipynb", ("site_id", "study_path"),
                     per_site=True),
    "study": Audience("study", "Study report — blinded, pooled over arms", TEMPLATES / "study_report.ipynb",
                      ("study_path",)),
    "dsmb": Audience("dsmb", "DSMB closed report", TEMPLATES / "dsmb_report.ipynb", ("study_path",), closed=True),
}


def get_audience(name) -> Audience:
    """The :class:`Audience` called ``name`` (``site``, ``study`` or ``dsmb``)."""
    if name not in AUDIENCES:
        raise ReportError(f"audience must be one of {', '.join(AUDIENCES)}, not {name!r}.")
    return AUDIENCES[name]


@dataclass(frozen=True)
class Reporting:
    """The study's reporting setting: may open reports show study-wide outcomes by arm?

    ``comparative_outcomes`` is ``"closed"`` (default: by-arm outcomes for the ``dsmb`` audience
    only) or ``"open"`` (declared in a file, with a ``reason``); ``source`` names that file.
    """

    comparative_outcomes: str = "closed"
    reason: str = ""
    source: str = ""

    @property
    def open(self) -> bool:
        return self.comparative_outcomes == "open"

    def note(self) -> str:
        """What an open page says about why it shows comparative results ("" when closed)."""
        if not self.open:
            return ""
        return (f"Study-wide outcomes are shown by arm because {self.source} declares "
                f"reporting: comparative_outcomes: open ({self.reason}).")


def _parse(raw, source: str) -> Reporting | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ReportError(f"{source}: `reporting:` must be a mapping, e.g. "
                          "{comparative_outcomes: closed}.")
    unknown = sorted(set(raw) - {"comparative_outcomes", "reason"})
    if unknown:
        raise ReportError(f"{source}: unknown key(s) {', '.join(unknown)} under `reporting:`; "
                          "use comparative_outcomes (closed or open) and reason.")
    value = raw.get("comparative_outcomes", "closed")
    if value not in ("closed", "open"):
        raise ReportError(f"{source}: reporting: comparative_outcomes must be 'closed' or 'open', not {value!r}.")
    reason = " ".join(str(raw.get("reason") or "").split())
    if value == "open" and not reason:
        raise ReportError(f"{source}: reporting: comparative_outcomes: open needs a `reason:` (e.g. the trial is "
                          "completed and its comparison published); it is printed on every open page.")
    return Reporting(value, reason, source)


def reporting_setting(protocol) -> Reporting:
    """The protocol file's ``reporting:`` setting (checked), else closed."""
    found = _parse((protocol.raw or {}).get("reporting"), protocol.source or f"protocol {protocol.id}")
    return found or Reporting()
