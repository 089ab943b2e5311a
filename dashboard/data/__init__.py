"""Settings to numbers (no Panel): the experiments, memoised across sessions, and their exports."""
