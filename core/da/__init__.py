"""The interfaces and their runners: window and cycled methods, the one registry, scoring and evaluation."""
