"""harmbench_stgan plugin package."""
