"""The README's tables and figures: reproduce, the sweep, long windows, the cost landscape, the benchmark."""
