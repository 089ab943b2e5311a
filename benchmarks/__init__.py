"""Measuring tools (not shipped): page, start, redraw, class and training benchmarks."""
