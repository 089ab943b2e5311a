"""Each page's settings and results as `param` classes (no Panel): one settings base, Explore and Cycle."""
