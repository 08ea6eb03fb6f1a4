"""Metrics: similarity, LPIPS, regional CNR, lesion overlap/distance, change read."""
