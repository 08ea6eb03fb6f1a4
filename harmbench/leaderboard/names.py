"""Names of the reference rows every leaderboard carries (written by the harness)."""

from __future__ import annotations

#: the original follow-up, unharmonized: the floor every method is compared with
BASELINE = "original-fu"
#: the same-scanner rescan FU2: the ceiling of what harmonization can reach
CEILING = "same-scanner-fu2"
