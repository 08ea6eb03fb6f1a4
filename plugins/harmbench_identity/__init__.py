"""The ``identity`` method: the original FU, unchanged (the reference row of every leaderboard)."""
