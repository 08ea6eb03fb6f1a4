"""harmbench_gan plugin package."""
