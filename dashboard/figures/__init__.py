"""Bokeh figures fed by column data sources, patched in place."""
