"""harmbench_combat plugin package."""
