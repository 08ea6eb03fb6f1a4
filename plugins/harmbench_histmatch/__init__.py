"""Intensity-standardization methods: per-patient histogram matching and Nyúl–Udupa."""
