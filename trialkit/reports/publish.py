"""Publish a report run: pages, manifest and index, written only here and only inside the output folder.

Workers return pages as text (:mod:`trialkit.reports.execute`); :func:`publish` writes each page
atomically, removes the page of a site that failed (a stale page must not outlive a failed
re-render), carries the entries of sites not requested in this run over from the previous manifest,
and writes ``manifest.json`` and ``index.html``. It returns the :class:`ReportRun`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from .naming import inside
from .plan import ReportPlan

__all__ = ["PageResult", "SiteResult", "ReportRun", "publish", "write_atomic"]


@dataclass(frozen=True)
class PageResult:
    """What happened to one page: ``status`` is ``ok``, ``failed`` or ``unchanged`` (skipped).

    ``page`` is the site id of a site report, else ``"study"`` or ``"dsmb"`` (also as ``site_id``).
    """

    page: str
    status: str
    path: Path | None
    error: str | None = None
    duration_s: float = 0.0

    @property
    def site_id(self) -> str:
        return self.page


SiteResult = PageResult  # the name of earlier versions


@dataclass(frozen=True)
class ReportRun:
    """The outcome of :func:`trialkit.render_reports` (and :func:`trialkit.render_site_reports`).

    Attributes
    ----------
    out, index, manifest : Path
    results : tuple of PageResult
        One per requested page (site), in request order.
    duration_s : float
    audience : str
        ``site``, ``study`` or ``dsmb``.
    """

    out: Path
    index: Path
    manifest: Path
    results: tuple[PageResult, ...]
    duration_s: float = 0.0
    audience: str = "site"

    @property
    def ok(self) -> bool:
        """True when no requested site failed."""
        return all(r.status != "failed" for r in self.results)

    @property
    def failed(self) -> list[str]:
        return [r.site_id for r in self.results if r.status == "failed"]

    @property
    def paths(self) -> dict[str, Path | None]:
        return {r.site_id: r.path for r in self.results}

    def to_frame(self) -> pd.DataFrame:
        """One row per page: ``site_id`` (site audience) or ``page``, ``status, path, error, duration_s``."""
        key = "site_id" if self.audience == "site" else "page"
        return pd.DataFrame([{key: r.page, "status": r.status, "path": str(r.path) if r.path else None,
                              "error": r.error, "duration_s": r.duration_s} for r in self.results])

    def _repr_html_(self) -> str:  # pragma: no cover - presentation
        counts = self.to_frame()["status"].value_counts().to_dict()
        return (f"<b>{self.audience} reports</b> in {self.out} ({counts}); index: {self.index}<br>"
                + self.to_frame().to_html(index=False))


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _rendered(entry: dict, outcome: dict, path: Path, now: str) -> PageResult:
    """Record a rendered page in its entry and write (or remove) its file."""
    sid = outcome.get("page")
    entry.update(status=outcome["status"], error=outcome.get("error"), duration_s=outcome.get("duration_s", 0.0),
                 rendered_at=now, last_run="rendered", worker=outcome.get("worker"),
                 stderr_outputs=outcome.get("stderr_outputs", 0))
    if outcome["status"] == "ok":
        write_atomic(path, outcome["html"])
        entry["page_bytes"] = path.stat().st_size
        return PageResult(sid, "ok", path, None, entry["duration_s"])
    if path.exists():  # a stale page must not outlive a failed re-render
        path.unlink()
    entry["file"] = None
    return PageResult(sid, "failed", None, outcome.get("error"), entry["duration_s"])


def _unchanged(entry: dict, prev: dict) -> None:
    """Record a skipped page: the file on disk was made from the previous entry's inputs."""
    entry.update(status="ok", error=None, duration_s=prev.get("duration_s", 0.0),
                 rendered_at=prev.get("rendered_at"), last_run="unchanged", page_bytes=prev.get("page_bytes"))
    for k in ("input_hash", "site_data_checksum", "data_checksum", "study_checksum", "parameters",
              "trialkit_version"):
        if k in entry:
            entry[k] = prev.get(k, entry[k])


def manifest_document(plan: ReportPlan, entries: dict, outcomes: dict, *, executor: str, duration_s: float) -> dict:
    s = plan.setup
    study = s.study
    return {
        "audience": s.audience.name,
        "closed": s.audience.closed,
        "trialkit_version": plan.trialkit_version,
        "generated": plan.generated,
        "study": {"protocol": study.protocol.id, "title": study.protocol.title, "source": str(study.source),
                  "checksum": plan.checksum, "data_cut_date": s.data_cut_date,
                  "arms": list(study.protocol.arm_codes), "min_cell": s.min_cell,
                  "reporting": {"comparative_outcomes": s.reporting.comparative_outcomes,
                                "reason": s.reporting.reason, "source": s.reporting.source}},
        "template": {"file": s.template.path.name, "sha256": s.template.sha256},
        "run": {"requested": len(s.requested), "rendered": len(outcomes),
                "ok": sum(1 for o in outcomes.values() if o["status"] == "ok"),
                "failed": sum(1 for o in outcomes.values() if o["status"] != "ok"),
                "unchanged": len(s.requested) - len(outcomes), "only_failed": s.only_failed, "force": s.force,
                "executor": executor, "plotly_js": s.plotly_js, "duration_s": round(duration_s, 3)},
        s.audience.entries_key: entries,
    }


def publish(plan: ReportPlan, outcomes: dict[str, dict], *, executor: str, t_start: float) -> ReportRun:
    """Write pages, ``manifest.json`` and ``index.html`` into the plan's output folder."""
    from .page import index_page, install_plotly_js

    s = plan.setup
    out = s.out
    inside(out, s.audience.folder).mkdir(parents=True, exist_ok=True)
    if s.plotly_js == "shared" and plan.tasks:
        install_plotly_js(out)
    entries = dict(s.previous)
    results = {}
    for key in s.requested:
        entry = plan.entries[key]
        if key in outcomes:
            results[key] = _rendered(entry, {**outcomes[key], "page": key}, s.page_path(key), plan.generated)
        else:
            _unchanged(entry, s.previous.get(key, {}))
            results[key] = PageResult(key, "unchanged", s.page_path(key), None, 0.0)
        entries[key] = entry
    manifest_path, index_path = inside(out, "manifest.json"), inside(out, "index.html")
    manifest = manifest_document(plan, entries, outcomes, executor=executor, duration_s=time.perf_counter() - t_start)
    write_atomic(manifest_path, json.dumps(manifest, indent=2, default=str))
    write_atomic(index_path, index_page(manifest))
    return ReportRun(out=out, index=index_path, manifest=manifest_path,
                     results=tuple(results[key] for key in s.requested),
                     duration_s=round(time.perf_counter() - t_start, 3), audience=s.audience.name)
