"""The Landscape figure: J(x0) as a log-coloured image, with the solvers' paths drawn over it.

Drawn once per session and patched in place (as the Explore figures are, `plots.py`): one image,
one `MultiLine` for every path, one scatter for every iterate, one for the truth and the
background; an update replaces the sources' data and moves the ranges and the colour scale.
"""

from __future__ import annotations

import numpy as np
from bokeh.models import ColorBar, ColumnDataSource, LogColorMapper, LogTicker, Range1d
from bokeh.palettes import Viridis256
from bokeh.plotting import figure

from dashboard.data.landscape_data import COST_FLOOR, PATH_COLORS, Grid, Paths

HEIGHT = 560
MIN_WIDTH = 320
COMPONENTS = "xyz"


class LandscapeFigure:
    """One session's landscape figure and its data sources."""

    def __init__(self):
        self.image = ColumnDataSource({"image": [], "x": [], "y": [], "dw": [], "dh": []})
        self.lines = ColumnDataSource({"xs": [], "ys": [], "color": [], "name": []})
        self.iterates = ColumnDataSource({"x": [], "y": [], "color": []})
        self.ends = ColumnDataSource({"x": [], "y": [], "color": [], "name": []})
        self.marks = ColumnDataSource({"x": [], "y": [], "marker": [], "color": [], "name": []})
        self.mapper = LogColorMapper(palette=Viridis256, low=1.0, high=10.0)
        self.x_range, self.y_range = Range1d(-1.0, 1.0), Range1d(-1.0, 1.0)
        fig = figure(
            height=HEIGHT,
            min_width=MIN_WIDTH,
            sizing_mode="stretch_width",
            x_range=self.x_range,
            y_range=self.y_range,
            tools="pan,wheel_zoom,reset,save",
            toolbar_location="above",
            title="",
        )
        fig.toolbar.logo = None
        fig.image(image="image", x="x", y="y", dw="dw", dh="dh", source=self.image, color_mapper=self.mapper)
        fig.multi_line(xs="xs", ys="ys", line_color="color", line_width=2.2, source=self.lines)
        fig.scatter("x", "y", source=self.iterates, size=4, color="color", line_color="white", line_width=0.5)
        fig.scatter("x", "y", source=self.ends, size=11, marker="circle", fill_color="color", line_color="white")
        fig.scatter(
            "x", "y", source=self.marks, marker="marker", size=15, fill_color="color", line_color="white", line_width=1
        )
        fig.add_layout(
            ColorBar(color_mapper=self.mapper, ticker=LogTicker(), title="J(x0)", width=12, label_standoff=6), "right"
        )
        self.figure = fig

    def update(self, grid: Grid, paths: Paths) -> None:
        """Draw `grid` and `paths` (projected onto the grid's plane); call under `pn.io.hold()`."""
        a, b = grid.axes
        first, second = grid.first, grid.second
        half_a = (first[1] - first[0]) / 2 if first.size > 1 else 0.5
        half_b = (second[1] - second[0]) / 2 if second.size > 1 else 0.5
        cost = np.maximum(grid.cost, COST_FLOOR).astype(np.float32)
        self.image.data = {
            "image": [cost],
            "x": [first[0] - half_a],
            "y": [second[0] - half_b],
            "dw": [first[-1] - first[0] + 2 * half_a],
            "dh": [second[-1] - second[0] + 2 * half_b],
        }
        self.mapper.update(low=float(cost.min()), high=float(max(cost.max(), cost.min() * 1.01)))
        self.x_range.update(start=float(first[0] - half_a), end=float(first[-1] + half_a))
        self.y_range.update(start=float(second[0] - half_b), end=float(second[-1] + half_b))
        lines = {"xs": [], "ys": [], "color": [], "name": []}
        iterates = {"x": [], "y": [], "color": []}
        ends = {"x": [], "y": [], "color": [], "name": []}
        for name, path in paths.paths.items():
            color = PATH_COLORS[name]
            lines["xs"].append(path[:, a])
            lines["ys"].append(path[:, b])
            lines["color"].append(color)
            lines["name"].append(name)
            iterates["x"].extend(path[:, a].tolist())
            iterates["y"].extend(path[:, b].tolist())
            iterates["color"].extend([color] * len(path))
            ends["x"].append(float(path[-1, a]))
            ends["y"].append(float(path[-1, b]))
            ends["color"].append(color)
            ends["name"].append(name)
        self.lines.data = lines
        self.iterates.data = iterates
        self.ends.data = ends
        self.marks.data = {
            "x": [float(paths.truth[a]), float(paths.background[a])],
            "y": [float(paths.truth[b]), float(paths.background[b])],
            "marker": ["star", "square"],
            "color": ["#000000", "#888888"],
            "name": ["truth", "background"],
        }
        fig = self.figure
        fig.xaxis.axis_label = f"{COMPONENTS[a]}(0)"
        fig.yaxis.axis_label = f"{COMPONENTS[b]}(0)"
        third = COMPONENTS[3 - a - b]
        fig.title.text = (
            f"Strong 4DVar's cost J(x0), window {paths.window} steps ({paths.window / 100:g} time units); "
            f"{third}(0) held at its true value"
        )
