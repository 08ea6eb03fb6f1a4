"""The report's training section lists every fit: one row per run and training seed."""

from __future__ import annotations

from harmbench.leaderboard.training import training_runs, training_table


def test_every_seed_of_a_run_gets_its_own_row_and_the_identity_check_shows():
    meta = {"runs": [
        {"run": "pix2pix", "seed": 0, "training": {"iterations_run": 300, "near_identity": False}},
        {"run": "pix2pix", "seed": 1, "training": {"iterations_run": 240, "near_identity": True}},
        {"run": "histmatch", "seed": None},                                   # does not learn
        {"run": "old-run", "training": {"iterations_run": 10}},               # schema 1: no seed
    ]}
    runs = training_runs(meta)
    assert sorted(runs) == ["old-run", "pix2pix seed 0", "pix2pix seed 1"]
    table = training_table(runs)
    rows = {r.cells[0].text: r for r in table.rows}
    assert [c.text for c in rows["pix2pix seed 1"].cells][-1] == "yes"
    assert [c.text for c in rows["pix2pix seed 0"].cells][-1] == "no"
    assert [c.text for c in rows["old-run"].cells][-1] == "—"
