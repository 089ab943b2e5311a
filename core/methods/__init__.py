"""The methods by family (baseline, variational, ensemble, learned), window and cycled twins side by side."""
