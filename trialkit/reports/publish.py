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

__all__ = ["SiteResult", "ReportRun", "publish", "write_atomic"]


@dataclass(frozen=True)
class SiteResult:
    """What happened to one site: ``status`` is ``ok``, ``failed`` or ``unchanged`` (skipped)."""

    site_id: str
    status: str
    path: Path | None
    error: str | None = None
    duration_s: float = 0.0


@dataclass(frozen=True)
class ReportRun:
    """The outcome of :func:`trialkit.render_site_reports`.

    Attributes
    ----------
    out, index, manifest : Path
    results : tuple of SiteResult
        One per requested site, in request order.
    duration_s : float
    """

    out: Path
    index: Path
    manifest: Path
    results: tuple[SiteResult, ...]
    duration_s: float = 0.0

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
        """One row per site: ``site_id, status, path, error, duration_s``."""
        return pd.DataFrame([{"site_id": r.site_id, "status": r.status, "path": str(r.path) if r.path else None,
                              "error": r.error, "duration_s": r.duration_s} for r in self.results])

    def _repr_html_(self) -> str:  # pragma: no cover - presentation
        counts = self.to_frame()["status"].value_counts().to_dict()
        return (f"<b>Site reports</b> in {self.out} ({counts}); index: {self.index}<br>"
                + self.to_frame().to_html(index=False))


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _rendered(entry: dict, outcome: dict, path: Path, now: str) -> SiteResult:
    """Record a rendered site in its entry and write (or remove) its page."""
    sid = outcome.get("site_id")
    entry.update(status=outcome["status"], error=outcome.get("error"), duration_s=outcome.get("duration_s", 0.0),
                 rendered_at=now, last_run="rendered", worker=outcome.get("worker"),
                 stderr_outputs=outcome.get("stderr_outputs", 0))
    if outcome["status"] == "ok":
        write_atomic(path, outcome["html"])
        entry["page_bytes"] = path.stat().st_size
        return SiteResult(sid, "ok", path, None, entry["duration_s"])
    if path.exists():  # a stale page must not outlive a failed re-render
        path.unlink()
    entry["file"] = None
    return SiteResult(sid, "failed", None, outcome.get("error"), entry["duration_s"])


def _unchanged(entry: dict, prev: dict) -> None:
    """Record a skipped site: the page on disk was made from the previous entry's inputs."""
    entry.update(status="ok", error=None, duration_s=prev.get("duration_s", 0.0),
                 rendered_at=prev.get("rendered_at"), last_run="unchanged", page_bytes=prev.get("page_bytes"))
    for k in ("input_hash", "site_data_checksum", "study_checksum", "parameters", "trialkit_version"):
        entry[k] = prev.get(k, entry[k])


def manifest_document(plan: ReportPlan, sites: dict, outcomes: dict, *, executor: str, duration_s: float) -> dict:
    s = plan.setup
    study = s.study
    return {
        "trialkit_version": plan.trialkit_version,
        "generated": plan.generated,
        "study": {"protocol": study.protocol.id, "title": study.protocol.title, "source": str(study.source),
                  "checksum": plan.checksum, "data_cut_date": s.data_cut_date,
                  "arms": list(study.protocol.arm_codes), "min_cell": s.min_cell},
        "template": {"file": s.template.path.name, "sha256": s.template.sha256},
        "run": {"requested": len(s.requested), "rendered": len(outcomes),
                "ok": sum(1 for o in outcomes.values() if o["status"] == "ok"),
                "failed": sum(1 for o in outcomes.values() if o["status"] != "ok"),
                "unchanged": len(s.requested) - len(outcomes), "only_failed": s.only_failed, "force": s.force,
                "executor": executor, "plotly_js": s.plotly_js, "duration_s": round(duration_s, 3)},
        "sites": sites,
    }


def publish(plan: ReportPlan, outcomes: dict[str, dict], *, executor: str, t_start: float) -> ReportRun:
    """Write pages, ``manifest.json`` and ``index.html`` into the plan's output folder."""
    from .page import index_page, install_plotly_js

    s = plan.setup
    out = s.out
    inside(out, "sites").mkdir(parents=True, exist_ok=True)
    if s.plotly_js == "shared" and plan.tasks:
        install_plotly_js(out)
    manifest_sites = dict(s.previous)
    results = {}
    for sid in s.requested:
        entry = plan.entries[sid]
        if sid in outcomes:
            results[sid] = _rendered(entry, {"site_id": sid, **outcomes[sid]}, s.page_path(sid), plan.generated)
        else:
            _unchanged(entry, s.previous.get(sid, {}))
            results[sid] = SiteResult(sid, "unchanged", s.page_path(sid), None, 0.0)
        manifest_sites[sid] = entry
    manifest_path, index_path = inside(out, "manifest.json"), inside(out, "index.html")
    manifest = manifest_document(plan, manifest_sites, outcomes, executor=executor,
                                 duration_s=time.perf_counter() - t_start)
    write_atomic(manifest_path, json.dumps(manifest, indent=2, default=str))
    write_atomic(index_path, index_page(manifest))
    return ReportRun(out=out, index=index_path, manifest=manifest_path,
                     results=tuple(results[sid] for sid in s.requested),
                     duration_s=round(time.perf_counter() - t_start, 3))
