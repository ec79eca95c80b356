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
.tk-status-ok{color:#1e7e34;font-weight:600}.tk-status-failed{color:#b02a37;font-weight:600}
.tk-status-unchanged{color:#566b80}
table.tk-index td:nth-child(2){min-width:14em}table.tk-index td:last-child{max-width:28em}
.tk-error{font-family:ui-monospace,Menlo,monospace;font-size:.85em;color:#b02a37;white-space:pre-wrap}
.tk-noplotly{display:none;border:1px solid #b02a37;color:#b02a37;padding:6px 10px;margin:8px 0}
footer{color:#8a9aab;font-size:.8em;margin-top:2em}
.jp-OutputArea-output pre{white-space:pre-wrap}
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


def page(body: str, *, title: str, plotly_js: str = "shared", footer: str = "") -> str:
    """A complete HTML page around an nbconvert body.

    ``plotly_js="shared"`` references ``../assets/plotly-<version>.min.js`` (one copy for all pages);
    ``"inline"`` embeds plotly.js in the page (a single file that works anywhere, about 4.8 MB).
    """
    if plotly_js == "inline":
        script = "<script>" + plotly_js_path().read_text(encoding="utf-8") + "</script>"
    elif plotly_js == "shared":
        script = f'<script src="../assets/{quote(plotly_asset_name())}"></script>'
    else:
        raise UsageError(f"plotly_js must be 'shared' or 'inline', not {plotly_js!r}")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style>{script}{_PLOTLY_CHECK}</head>\n"
            "<body><main class=\"tk-report\">"
            "<div id=\"tk-noplotly\" class=\"tk-noplotly\">The figures need plotly.js "
            "(assets/ folder beside this page's folder); copy the whole report folder, not only this file.</div>"
            f"{body}<footer>{html.escape(footer)}</footer></main></body></html>\n")


def index_page(manifest: dict) -> str:
    """The index: every site with status, key counts, a link to its page or its error."""
    study = manifest.get("study", {})
    sites = manifest.get("sites", {})
    n_ok = sum(1 for e in sites.values() if e.get("status") == "ok")
    n_failed = sum(1 for e in sites.values() if e.get("status") == "failed")
    arms = study.get("arms", [])
    head = ["site", "name", "country", "status", "screened", "eligible (rules)", "undetermined",
            "eligible (site verdict)", "randomized",
            *[f"{a}" for a in arms], "rendered", "seconds", "report / error"]
    rows = []
    for sid in sorted(sites):
        e = sites[sid]
        c = e.get("counts", {})
        st = e.get("status", "?")
        last = e.get("last_run", "")
        badge = f'<span class="tk-status-{html.escape(st)}">{html.escape(st)}</span>'
        if last == "unchanged":
            badge += ' <span class="tk-status-unchanged">(unchanged, not re-rendered)</span>'
        if st == "ok" and e.get("file"):
            link = f'<a href="{quote(e["file"])}">open report</a>'
        else:
            link = f'<div class="tk-error">{html.escape(str(e.get("error") or "not rendered"))}</div>'
        cells = [html.escape(sid), html.escape(str(e.get("site_name") or "")),
                 html.escape(str(e.get("country") or "")), badge,
                 *[html.escape(str(c.get(k, ""))) for k in ("screened", "eligible_rules", "undetermined", "eligible", "randomized")],
                 *[html.escape(str((c.get("arms") or {}).get(a, ""))) for a in arms],
                 html.escape(str(e.get("rendered_at", ""))), html.escape(f"{e.get('duration_s', 0):.2f}"), link]
        rows.append("<tr>" + "".join(f"<td>{x}</td>" for x in cells) + "</tr>")
    thead = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    info = [("Study", f"{str(study.get('protocol', '')).upper()} — {study.get('title', '')}"),
            ("Data cut", study.get("data_cut_date") or "not stated"),
            ("Data checksum", study.get("checksum", "")),
            ("trialkit version", manifest.get("trialkit_version", "")),
            ("Generated", manifest.get("generated", "")),
            ("Sites", f"{len(sites)} listed: {n_ok} ok, {n_failed} failed")]
    info_html = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in info)
    body = (f"<h1>Site reports <small>{html.escape(str(study.get('protocol', '')).upper())}</small></h1>"
            f'<table class="tk-header">{info_html}</table>'
            + (f'<p class="tk-status-failed">{n_failed} site(s) failed: their error is listed below and in '
               "manifest.json; re-run with --only-failed after fixing.</p>" if n_failed else "")
            + f'<table class="tk-index"><thead><tr>{thead}</tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>Site reports — {html.escape(str(study.get('protocol', '')))}</title><style>{CSS}</style></head>"
            f"<body><main class=\"tk-wide\">{body}<footer>Counts are the site's own; the pages compare each site with "
            "study aggregates in which cells under 5 patients are suppressed.</footer></main></body></html>\n")
