"""Example third-party harmbench plugin."""
