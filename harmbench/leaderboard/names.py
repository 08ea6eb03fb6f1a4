"""Names of the reference rows every leaderboard carries (written by the harness)."""

from __future__ import annotations

#: the original follow-up, unharmonized: the floor every method is compared with
BASELINE = "original-fu"
#: the same-scanner rescan FU2: the ceiling of what harmonization can reach
CEILING = "same-scanner-fu2"


def diagnostic_runs(meta: dict) -> frozenset[str]:
    """Runs that runs.json records as diagnostics (``Capabilities.diagnostic``: identity,
    copy-reference); empty for files written before the flag existed."""
    return frozenset(str(r["run"]) for r in meta.get("runs", []) if isinstance(r, dict) and r.get("diagnostic"))
