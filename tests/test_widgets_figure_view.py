"""The explorers' figure view, kernel side: a view that says it is deaf gets a fresh one of the same figure.

Why a view can be deaf (anywidget drops every message to a model that took over 2 s to start in the page)
and the same in a real JupyterLab: tests/test_browser_figures.py.
"""

from __future__ import annotations

import pytest

pytest.importorskip("ipywidgets")
pytest.importorskip("anywidget")

import ipywidgets as W  # noqa: E402

from trialkit.widgets import _common as common  # noqa: E402


def _spec(title: str) -> dict:
    return {"data": [{"type": "bar", "x": ["a"], "y": [1]}], "layout": {"title": {"text": title}}}


def _box_with_view(title: str = "first"):
    box = common.figure_box(W)
    with box.lock:
        view = common._new_view(box, _spec(title))
    return box, view


def test_a_ping_is_answered_with_a_pong(monkeypatch):
    box, view = _box_with_view()
    sent = []
    monkeypatch.setattr(view, "send", lambda content, buffers=None: sent.append(content))
    common._on_view_message(box, view, {"kind": "ping"})
    assert sent == [{"kind": "pong"}]
    assert box.view is view  # nothing replaced


def test_a_deaf_view_is_replaced_by_a_fresh_one_showing_the_figure_as_it_is_now():
    box, view = _box_with_view()
    view.figure = _spec("updated")  # a change the deaf page never received
    common._on_view_message(box, view, {"kind": "deaf"})
    fresh = box.view
    assert fresh is not view and box.children == (fresh,)
    assert fresh.figure["layout"]["title"]["text"] == "updated"
    assert view.comm is None  # the deaf one is closed (its model goes from the page)
    # a late "deaf" from the replaced view changes nothing
    common._on_view_message(box, view, {"kind": "deaf"})
    assert box.view is fresh and box.revived == 1


def test_revivals_are_bounded_and_other_messages_are_ignored():
    box, view = _box_with_view()
    for _ in range(common.MAX_REVIVALS + 3):
        common._on_view_message(box, box.view, {"kind": "deaf"})
    assert box.revived == common.MAX_REVIVALS
    kept = box.view
    for content in ({"kind": "other"}, {}, "deaf", None):
        common._on_view_message(box, kept, content)
    assert box.view is kept and box.revived == common.MAX_REVIVALS
