"""Leaderboards: summary statistics, Markdown tables (paper Tables 2-5) and report.html."""
