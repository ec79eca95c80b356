"""Figures from plain dicts: the one place trialkit's plots turn a trace/layout spec into a ``go.Figure``.

plotly validates every property it is given, one by one; for the explorers' figures that took 0.2–0.45 s
per figure on a loaded 2-core machine, most of an interaction's budget. The plot functions build their
traces and layout as plain dicts written against plotly's schema (tested through ``fig.to_dict()`` and
in a real browser) and wrap them here without that validation. The result is an ordinary
``plotly.graph_objects.Figure``: ``update_layout``, ``to_html`` and ``to_json`` work as usual.
"""

from __future__ import annotations

__all__ = ["figure_from_spec", "template"]

_TEMPLATE: dict = {}


def template() -> dict:
    """The "plotly_white" template as a plain dict, resolved once per process."""
    if not _TEMPLATE:
        import plotly.io as pio

        _TEMPLATE.update(pio.templates["plotly_white"].to_plotly_json())
    return _TEMPLATE


def figure_from_spec(data: list, layout: dict):
    """A ``go.Figure`` from trace dicts (each with its ``type``) and a layout dict, on the white template."""
    import plotly.graph_objects as go

    return go.Figure({"data": data, "layout": {"template": template(), **layout}}, _validate=False)
