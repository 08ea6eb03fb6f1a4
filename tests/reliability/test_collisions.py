"""Nothing of another dataset, manifest or run is silently replaced (issue #24.5)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from harmbench.errors import DataError


def _one_line(exc: pytest.ExceptionInfo) -> str:
    msg = str(exc.value)
    assert "\n" not in msg
    return msg


# --- datasets prepare: a second manifest in the same folder --------------------------------------

def _prepared(folder, source):
    folder.mkdir(parents=True)
    (folder / "manifest.csv").write_text("case,split,session,image\n")
    (folder / "dataset.json").write_text(json.dumps({"name": "d", "prepared": True,
                                                     "source_manifest": str(source.resolve())}))
    return folder


def test_prepare_refuses_a_folder_holding_another_manifests_output(tmp_path):
    from harmbench.preprocess.guard import check_prepared_folder

    first, second = tmp_path / "manifest.csv", tmp_path / "second.csv"
    first.write_text("x\n")
    second.write_text("x\n")
    out = _prepared(tmp_path / "prepared", first)
    check_prepared_folder(out, first)                        # a rerun of the same manifest is fine
    check_prepared_folder(tmp_path / "elsewhere", second)    # so is a new folder
    with pytest.raises(DataError) as exc:
        check_prepared_folder(out, second)
    msg = _one_line(exc)
    assert "manifest.csv" in msg and "second.csv" in msg and "--out" in msg and "--force" in msg
    check_prepared_folder(out, second, force=True)


def test_prepare_refuses_a_raw_dataset_or_foreign_manifest_folder(tmp_path):
    from harmbench.preprocess.guard import check_prepared_folder

    src = tmp_path / "src" / "manifest.csv"
    src.parent.mkdir()
    src.write_text("x\n")
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "manifest.csv").write_text("x\n")
    (raw / "dataset.json").write_text(json.dumps({"name": "synth-tiny", "prepared": False, "seed": 0}))
    with pytest.raises(DataError, match="raw dataset synth-tiny"):
        check_prepared_folder(raw, src)
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "manifest.csv").write_text("x\n")
    with pytest.raises(DataError, match="did not write"):
        check_prepared_folder(foreign, src)


def test_remove_stale_cases_keeps_only_the_new_manifests_case_folders(tmp_path):
    from harmbench.preprocess.guard import remove_stale_cases

    for c in ("a", "b", "c"):
        (tmp_path / "cases" / c).mkdir(parents=True)
        (tmp_path / "cases" / c / "BL.nii.gz").write_bytes(b"x")
    removed = remove_stale_cases(tmp_path, ["cases/a", "cases/c"])
    assert [p.name for p in removed] == ["b"]
    assert sorted(p.name for p in (tmp_path / "cases").iterdir()) == ["a", "c"]


# --- datasets build: another preset's (or seed's) folder -----------------------------------------

def _built(folder, name, seed):
    folder.mkdir(parents=True)
    (folder / "manifest.csv").write_text("case\n")
    (folder / "dataset.json").write_text(json.dumps({"name": name, "seed": seed, "prepared": False}))
    return folder


def test_build_refuses_a_folder_holding_another_preset_or_seed(tmp_path):
    from harmbench.preprocess.guard import check_dataset_folder

    out = _built(tmp_path / "tiny", "synth-tiny", 0)
    check_dataset_folder(out, "synth-tiny", 0)               # the same dataset: reuse
    check_dataset_folder(tmp_path / "new", "synth-paper", 0)
    with pytest.raises(DataError) as exc:
        check_dataset_folder(out, "synth-paper", 0)
    assert "synth-tiny" in _one_line(exc) and "synth-paper" in str(exc.value)
    with pytest.raises(DataError, match="seed 0, not seed 3"):
        check_dataset_folder(out, "synth-tiny", 3)
    check_dataset_folder(out, "synth-paper", 0, force=True)  # released: the build rewrites it
    assert not (out / "manifest.csv").exists() and not (out / "dataset.json").exists()


def test_synth_build_into_another_presets_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    from harmbench.preprocess.guard import check_dataset_folder  # noqa: F401  (absent on old main)
    from harmbench_synth import cohort
    from harmbench_synth.presets import PRESETS

    out = _built(tmp_path / "tiny", "synth-tiny", 0)
    before = (out / "manifest.csv").read_text()
    monkeypatch.setattr(cohort, "plan_cases", lambda *a: pytest.fail("started building"))
    with pytest.raises(DataError, match="holds dataset synth-tiny, not synth-paper"):
        cohort.build_cohort(PRESETS["synth-paper"], out, 0, workers=1)
    assert (out / "manifest.csv").read_text() == before


# --- evaluate --out: another dataset's results, concurrent writers --------------------------------

def test_claim_out_refuses_results_of_another_dataset(tmp_path):
    from harmbench.harness.outdir import claim_out

    me = {"name": "synth-tiny", "hash": "abc123"}
    claim_out(tmp_path, me)                                  # empty folder
    (tmp_path / "runs.json").write_text(json.dumps({"dataset": {"name": "synth-tiny", "hash": "abc123"}}))
    claim_out(tmp_path, me)                                  # rerun on the same data
    claim_out(tmp_path, {"name": "renamed", "hash": "abc123"})  # same data under another name
    (tmp_path / "runs.json").write_text(json.dumps({"dataset": {"name": "synth-tiny", "hash": "9e" * 32}}))
    claim_out(tmp_path, {**me, "prepared_hash": "9e" * 32})  # older runs.json: dataset.json's hash
    (tmp_path / "runs.json").write_text(json.dumps({"dataset": {"name": "synth-quick", "hash": "ffff00"}}))
    with pytest.raises(DataError) as exc:
        claim_out(tmp_path, me)
    msg = _one_line(exc)
    assert "synth-quick" in msg and "synth-tiny" in msg and "--out" in msg and "--force" in msg
    claim_out(tmp_path, me, force=True)


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from harmbench.harness.outdir import lock_out
    with lock_out(Path(sys.argv[1])):
        print("locked", flush=True)
        time.sleep(60)
""")


def test_a_second_evaluate_on_a_locked_out_gets_one_line_with_the_holders_pid(tmp_path):
    from harmbench.harness.outdir import lock_out

    out = tmp_path / "lb"
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(out)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(DataError) as exc:
            with lock_out(out):
                pytest.fail("got the lock another process holds")
        msg = _one_line(exc)
        assert f"being written by another harmbench evaluate (pid {holder.pid})" in msg
    finally:
        holder.kill()
        holder.wait()
    with lock_out(out):                                      # kill -9 releases it
        with pytest.raises(DataError):                       # and it is exclusive within a process too
            with lock_out(out):
                pass


# --- rerun with fewer test sets: stale tables and montages ---------------------------------------

def _results_only_a(out):
    rng = np.random.default_rng(0)
    rows = []
    for run in ("original-fu", "histmatch"):
        for i in range(6):
            for m, reg, v in (("psnr", "", 25 + rng.normal()), ("ssim", "", 0.8 + rng.normal(0, 0.01)),
                              ("cnr-diff", "caudate", 0.5 + rng.normal(0, 0.05))):
                rows.append(dict(dataset="d", test_set="A", method=run, run=run, case=f"c{i}", metric=m,
                                 region=reg, value=v))
    out.mkdir()
    pd.DataFrame(rows).to_csv(out / "results.csv", index=False)
    (out / "runs.json").write_text(json.dumps({"dataset": {"name": "d", "hash": "h"}}))


def test_rerender_with_fewer_test_sets_removes_their_tables_and_montages(tmp_path):
    from harmbench.leaderboard.render import render_leaderboards

    out = tmp_path / "lb"
    _results_only_a(out)
    stale = ["table2-slicewise-testB.md", "table4-cnr-testB.md", "table5-change-testB.md",
             "table6-instruments-testA.md"]              # B left out; no instruments on A this time
    mine = ["notes-testB.md", "table-testB.txt", "tableB.md"]  # not harmbench's names: untouched
    for name in stale + mine:
        (out / name).write_text("old\n")
    (out / "figures").mkdir()
    (out / "figures" / "montage-test-B-case07.png").write_bytes(b"png")
    (out / "figures" / "montage-test-A-case01.png").write_bytes(b"png")
    written = render_leaderboards(out)
    left = {p.name for p in out.iterdir()}
    assert not left & set(stale)
    assert set(mine) <= left
    assert (out / "table3-volumewise-testA.md").exists() and out / "table3-volumewise-testA.md" in written
    # no montages remade: those of test sets still in the results stay, the others go
    assert sorted(p.name for p in (out / "figures").iterdir()) == ["montage-test-A-case01.png"]
    assert "case07" not in (out / "report.html").read_text()


def test_remade_montages_replace_every_older_montage(tmp_path):
    from harmbench.leaderboard.render import remove_stale_outputs

    figs = tmp_path / "figures"
    figs.mkdir()
    new, old, other = figs / "montage-test-A-c1.png", figs / "montage-test-A-c9.png", figs / "my-plot.png"
    for f in (new, old, other):
        f.write_bytes(b"png")
    assert remove_stale_outputs(tmp_path, {"A"}, [new], montages_remade=True) == [old]
    assert new.exists() and other.exists() and not old.exists()
