"""HTML around the rendered notebooks: the site page shell, the shared plotly.js file and the index."""

from __future__ import annotations

import html
import shutil
from pathlib import Path
from urllib.parse import quote

from ..errors import UsageError

__all__ = ["page", "install_plotly_js", "index_page", "CSS"]

CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2d3d;margin:0;background:#fff}
main{max-width:1100px;margin:0 auto;padding:18px 28px 40px}main.tk-wide{max-width:1500px}
h1{font-size:1.6em;margin:.3em 0}h1 small{color:#6b7c93;font-weight:normal;font-size:.6em;margin-left:.5em}
h2{font-size:1.25em;border-bottom:2px solid #e3e8ee;padding-bottom:4px;margin-top:1.6em}
p{line-height:1.45}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.92em}
th,td{border:1px solid #dfe4ea;padding:4px 9px;text-align:left;vertical-align:top}
thead th{background:#f3f6f9}caption{caption-side:top;text-align:left;font-weight:600;padding:4px 0;color:#34495e}
table.tk-header th{background:#f3f6f9;width:13em}table.tk-header td{font-family:ui-monospace,Menlo,monospace;font-size:.9em}
.tk-note,.tk-empty{color:#566b80;font-style:italic}
.tk-footnote{color:#566b80;font-size:0.85em;margin:0.2em 0 1em}
tr.tk-major td{background:#fde8e8;font-weight:600}tr.tk-major td:first-child{border-left:4px solid #b02a37}
.tk-status-ok{color:#1e7e34;font-weight:600}.tk-status-failed{color:#b02a37;font-weight:600}
.tk-status-unchanged{color:#566b80}
table.tk-index td:nth-child(2){min-width:14em}table.tk-index td:last-child{max-width:28em}
.tk-error{font-family:ui-monospace,Menlo,monospace;font-size:.85em;color:#b02a37;white-space:pre-wrap}
.tk-noplotly{display:none;border:1px solid #b02a37;color:#b02a37;padding:6px 10px;margin:8px 0}
footer{color:#8a9aab;font-size:.8em;margin-top:2em}
.tk-closed{position:sticky;top:0;z-index:10;background:#b02a37;color:#fff;font-weight:700;letter-spacing:.04em;
text-align:center;padding:8px 12px;font-size:1.05em}
.tk-audience{color:#34495e;background:#eef3f8;border-left:4px solid #5b7fa3;padding:6px 10px;margin:8px 0}
.jp-OutputArea-output pre{white-space:pre-wrap}
.jp-OutputArea-output{overflow-x:auto;max-width:100%;min-width:0}.tk-result .tk-part{overflow-x:auto;max-width:100%}
main .tk-table td,main .tk-table th{white-space:normal}main table td{max-width:26em;overflow-wrap:break-word}
main .tk-table caption{max-width:none}
"""

_PLOTLY_CHECK = ("<script>if(!window.Plotly){document.addEventListener('DOMContentLoaded',function(){"
                 "var e=document.getElementById('tk-noplotly');if(e){e.style.display='block';}});}</script>")


def plotly_js_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def plotly_asset_name() -> str:
    import plotly

    return f"plotly-{plotly.__version__}.min.js"


def install_plotly_js(out: Path) -> Path:
    """Copy plotly.min.js once into ``out/assets`` (skipped when the same version is there)."""
    dest = out / "assets" / plotly_asset_name()
    if not dest.exists() or dest.stat().st_size != plotly_js_path().stat().st_size:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp")
        shutil.copyfile(plotly_js_path(), tmp)
        tmp.replace(dest)
    return dest


def _banner(text: str) -> str:
    return f'<div class="tk-closed" role="alert">{html.escape(text)}</div>' if text else ""


def page(body: str, *, title: str, plotly_js: str = "shared", footer: str = "", banner: str = "") -> str:
    """A complete HTML page around an nbconvert body.

    ``plotly_js="shared"`` references ``../assets/plotly-<version>.min.js`` (one copy for all pages);
    ``"inline"`` embeds plotly.js in the page (a single file that works anywhere, about 4.8 MB).
    ``banner`` (the dsmb's "CLOSED — …") is shown at the top of the page, staying in view when
    scrolling, and repeated in the footer and the title.
    """
    if plotly_js == "inline":
        script = "<script>" + plotly_js_path().read_text(encoding="utf-8") + "</script>"
    elif plotly_js == "shared":
        script = f'<script src="../assets/{quote(plotly_asset_name())}"></script>'
    else:
        raise UsageError(f"plotly_js must be 'shared' or 'inline', not {plotly_js!r}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape((banner + ' · ' if banner else '') + title)}</title><style>{CSS}</style>"
            f"{script}{_PLOTLY_CHECK}</head>\n"
            f"<body>{_banner(banner)}<main class=\"tk-report\">"
            "<div id=\"tk-noplotly\" class=\"tk-noplotly\">The figures need plotly.js "
            "(assets/ folder beside this page's folder); copy the whole report folder, not only this file.</div>"
            f"{body}<footer>{html.escape((banner + ' · ' if banner else '') + footer)}</footer></main>"
            f"{_banner(banner)}</body></html>\n")


def _badge(e: dict) -> str:
    st = e.get("status", "?")
    badge = f'<span class="tk-status-{html.escape(st)}">{html.escape(st)}</span>'
    if e.get("last_run") == "unchanged":
        badge += ' <span class="tk-status-unchanged">(unchanged, not re-rendered)</span>'
    return badge


def _link(e: dict) -> str:
    if e.get("status") == "ok" and e.get("file"):
        return f'<a href="{quote(e["file"])}">open report</a>'
    return f'<div class="tk-error">{html.escape(str(e.get("error") or "not rendered"))}</div>'


def _site_rows(manifest: dict) -> tuple[list[str], list[str]]:
    arms = manifest.get("study", {}).get("arms", [])
    sites = manifest.get("sites", {})
    head = ["site", "name", "country", "status", "screened", "eligible (rules)", "undetermined",
            "eligible (site verdict)", "randomized", *arms, "rendered", "seconds", "report / error"]
    rows = []
    for sid in sorted(sites):
        e = sites[sid]
        c = e.get("counts", {})
        cells = [html.escape(sid), html.escape(str(e.get("site_name") or "")),
                 html.escape(str(e.get("country") or "")), _badge(e),
                 *[html.escape(str(c.get(k, ""))) for k in ("screened", "eligible_rules", "undetermined", "eligible",
                                                           "randomized")],
                 *[html.escape(str((c.get("arms") or {}).get(a, ""))) for a in arms],
                 html.escape(str(e.get("rendered_at", ""))), html.escape(f"{e.get('duration_s', 0):.2f}"), _link(e)]
        rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    return head, rows


def _page_rows(manifest: dict) -> tuple[list[str], list[str]]:
    pages = manifest.get("pages", {})
    head = ["report", "status", "sites", "screened", "randomized", "rendered", "seconds", "report / error"]
    rows = []
    for name in sorted(pages):
        e = pages[name]
        c = e.get("counts", {})
        cells = [html.escape(name), _badge(e), *[html.escape(str(c.get(k, ""))) for k in ("sites", "screened",
                                                                                        "randomized")],
                 html.escape(str(e.get("rendered_at", ""))), html.escape(f"{e.get('duration_s', 0):.2f}"), _link(e)]
        rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    return head, rows


_INDEX_TITLE = {"site": "Site reports", "study": "Study report (blinded, pooled over arms)",
                "dsmb": "DSMB closed report"}
_INDEX_FOOTER = {
    "site": "Counts are the site's own; the pages compare each site with study aggregates in which cells under 5 "
            "patients are suppressed and outcomes are pooled over arms.",
    "study": "For the blinded study team: no outcome or safety result by arm.",
    "dsmb": "Comparative results by arm: for the Data Monitoring Committee only. Do not forward.",
}


def index_page(manifest: dict) -> str:
    """The index: every page (every site, or the one study / dsmb page) with its status and a link or its error."""
    from .audience import CLOSED_BANNER

    audience = manifest.get("audience") or "site"
    study = manifest.get("study", {})
    entries = manifest.get("sites" if audience == "site" else "pages", {})
    n_ok = sum(1 for e in entries.values() if e.get("status") == "ok")
    n_failed = sum(1 for e in entries.values() if e.get("status") == "failed")
    head, rows = (_site_rows if audience == "site" else _page_rows)(manifest)
    thead = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    pid = str(study.get("protocol", "")).upper()
    info = [("Study", f"{pid} — {study.get('title', '')}"),
            ("Audience", audience),
            ("Data cut", study.get("data_cut_date") or "not stated"),
            ("Data checksum", study.get("checksum", "")),
            ("trialkit version", manifest.get("trialkit_version", "")),
            ("Generated", manifest.get("generated", "")),
            ("Pages" if audience != "site" else "Sites", f"{len(entries)} listed: {n_ok} ok, {n_failed} failed")]
    info_html = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in info)
    title = _INDEX_TITLE.get(audience, "Reports")
    body = (f"<h1>{html.escape(title)} <small>{html.escape(pid)}</small></h1>"
            f'<table class="tk-header">{info_html}</table>'
            + (f'<p class="tk-status-failed">{n_failed} page(s) failed: their error is listed below and in '
               "manifest.json; re-run with --only-failed after fixing.</p>" if n_failed else "")
            + f'<table class="tk-index"><thead><tr>{thead}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    banner = CLOSED_BANNER if audience == "dsmb" else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape((banner + ' · ' if banner else '') + title)} — {html.escape(pid.lower())}</title>"
            f"<style>{CSS}</style></head><body>{_banner(banner)}<main class=\"tk-wide\">{body}<footer>"
            f"{html.escape(_INDEX_FOOTER.get(audience, ''))}</footer></main>{_banner(banner)}</body></html>\n")
