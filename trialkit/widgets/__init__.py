"""Interaction layer: ipywidgets explorers that wire compute and plot functions (no statistics here)."""
