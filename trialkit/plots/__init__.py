"""Presentation layer: plotly figures rendered from trialkit's tidy results (one module per topic)."""
