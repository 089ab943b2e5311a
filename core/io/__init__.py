"""Files: the validating reader of shared JSON files, and the resources a job needs before it starts."""
