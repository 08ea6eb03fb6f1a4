"""Build a synthetic traveling-subject cohort: plan the cases, simulate them, write the manifest.

Each case: BL on the preset's baseline scanner, FU on the follow-up scanner (another vendor or
another field strength),
FU2 on the baseline scanner again, each with its own head pose, gadolinium delay, fields and
noise. Test-A cases keep every lesion identical at BL and FU; test-B cases scale the target
lesion's volume by a recorded ``change`` (±20-60 %); train/val cases are half stable, half
changing. FU2 is a same-scanner rescan at the FU time point: it shows the lesions exactly as FU
does (the same true change), so it is the same-scanner ceiling for agreement on test A *and* for
change detection on test B. A preset with ``biology`` (off for all but ``synth-tiny-bio``) also
gives the follow-up time point (FU and FU2 alike) a brain shift, atrophy, lesion treatment effects
and, on test B, new and vanishing lesions (:mod:`harmbench_synth.biology`). Everything derives from
``numpy.random.SeedSequence([seed, ...])`` per subject and per case, so a preset + seed gives
byte-identical files, whatever the number of worker processes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from harmbench.io import write_json_atomic, write_text_atomic
from harmbench.parallel import default_workers, worker_pool
from harmbench.preprocess.guard import check_dataset_folder
from harmbench.preprocess.nifti import write_nifti
from harmbench_synth.acquire import Acquisition, acquire
from harmbench_synth.anatomy import SubjectAnatomy, subject_anatomy
from harmbench_synth.biology import draw_field, follow_up_lesions
from harmbench_synth.lesions import Lesion, place_lesions
from harmbench_synth.motion import random_pose
from harmbench_synth.presets import GENERATOR, Biology, Preset



@dataclass(frozen=True)
class CasePlan:
    """What to simulate for one case (all choices except noise, poses and lesion shapes)."""

    index: int
    case: str
    subject: str
    subject_index: int
    split: str
    change: float


@dataclass
class CaseResult:
    rows: list[dict] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)
    truth: dict = field(default_factory=dict)


def plan_cases(preset: Preset, seed: int) -> list[CasePlan]:
    """Case ids, subjects, splits and target-lesion changes of a preset (deterministic)."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7]))
    plans: list[CasePlan] = []
    subject = 0
    for split, n in (("train", preset.n_train), ("val", preset.n_val), ("test-A", preset.n_test_a),
                     ("test-B", preset.n_test_b)):
        done = 0
        while done < n:
            repeat = split in ("train", "val") and n - done >= 2 and rng.random() < preset.repeat_fraction
            for _ in range(2 if repeat else 1):
                if split == "test-A" or (split in ("train", "val") and rng.random() < 0.5):
                    change = 0.0
                else:
                    change = float(rng.uniform(0.2, 0.6)) * (1.0 if rng.random() < 0.55 else -1.0)
                idx = len(plans)
                plans.append(CasePlan(idx, f"c{idx:04d}", f"s{subject:04d}", subject, split, round(change, 4)))
                done += 1
            subject += 1
    return plans


def simulate_case(preset: Preset, seed: int, plan: CasePlan, out_dir: Path) -> CaseResult:
    """Simulate and write the BL, FU and FU2 sessions of one case."""
    anat = subject_anatomy(np.random.default_rng(np.random.SeedSequence([seed, 1, plan.subject_index])),
                           preset.sim_spacing, fields=preset.fields_t)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2, plan.index]))
    n_les = int(rng.integers(1, 4))
    target = float(rng.uniform(*preset.target_diameter_mm))
    others = [float(rng.uniform(3.0, min(12.0, target))) for _ in range(n_les - 1)]
    lesions = place_lesions(rng, anat.labels, anat.affine, [target, *others])
    grown = [lesions[0].scaled(plan.change), *lesions[1:]]
    anat_fu, bio = anat, None
    if preset.biology is not None:
        anat_fu, grown, bio = _follow_up(preset, preset.biology, seed, plan, anat, lesions)
    res = CaseResult()
    sessions = (("BL", preset.bl, lesions, anat, 1.5, 2.0), ("FU", preset.fu, grown, anat_fu, 3.0, 3.0),
                ("FU2", preset.bl, grown, anat_fu, 3.0, 3.0))
    meta = {}
    for k, (session, prof, les, sub, rot_sd, tr_sd) in enumerate(sessions):
        srng = np.random.default_rng(np.random.SeedSequence([seed, 3, plan.index, k]))
        pose = random_pose(srng, rot_sd_deg=rot_sd, trans_sd_mm=tr_sd)
        acq = acquire(sub, les, prof, scale=preset.scale, fov_mm=preset.fov_mm, pose=pose, rng=srng,
                      gd_delay_min=float(srng.uniform(4.0, 8.0)))
        files = {"image": f"cases/{plan.case}/{session}.nii.gz",
                 "labels": f"cases/{plan.case}/{session}_labels.nii.gz",
                 "lesion": f"cases/{plan.case}/{session}_lesion.nii.gz"}
        res.hashes[files["image"]] = write_nifti(acq.image, acq.affine, out_dir / files["image"], dtype=np.int16)
        res.hashes[files["labels"]] = write_nifti(acq.labels, acq.affine, out_dir / files["labels"], dtype=np.int16)
        res.hashes[files["lesion"]] = write_nifti(acq.lesion, acq.affine, out_dir / files["lesion"], dtype=np.uint8)
        vox = float(abs(np.linalg.det(acq.affine[:3, :3])))
        meta[session] = {**acq.meta, "target_lesion_voxels": int(acq.lesion.sum()),
                         "target_lesion_mm3": round(float(acq.lesion.sum()) * vox, 2)}
        if bio is not None and bio["new_lesions"] and session != "BL":
            _write_new_lesions(res, bio, session, acq, plan.case, out_dir, meta[session])
        res.rows.append({"case": plan.case, "subject": plan.subject, "session": session,
                         "scanner": prof.name, "vendor": prof.vendor, "split": plan.split, **files,
                         "change": plan.change, "lesion_mm3": round(les[0].volume_mm3(), 2)})
    res.truth = {"case": plan.case, "subject": plan.subject, "split": plan.split, "change": plan.change,
                 "fu2_change": plan.change,
                 "anatomy": anat.params, "sessions": meta,
                 "lesions": [{"centre_mm": [round(float(c), 2) for c in les.centre],
                              "diameter_mm": round(2 * les.radius * (1 + 0.5 * les.lobe_amp.sum()), 2),
                              "ring_enhancing": les.core > 0, "oedema_mm": round(les.oedema, 2),
                              "volume_bl_mm3": round(les.volume_mm3(), 2),
                              "volume_fu_mm3": round(g.volume_mm3(), 2)}
                             for les, g in zip(lesions, grown)]}
    if bio is not None:
        res.truth["lesions"] = _lesion_records(lesions, grown, bio)
        res.truth["biology"] = bio
    return res


def _follow_up(preset: Preset, bio: Biology, seed: int, plan: CasePlan, anat: SubjectAnatomy,
               lesions: list[Lesion]) -> tuple[SubjectAnatomy, list[Lesion], dict]:
    """The follow-up time point's anatomy, lesions and biology record (:mod:`harmbench_synth.biology`).

    Its draws come from ``SeedSequence([seed, 11, case])`` only; the subject is redrawn from its
    own sequence (the same subject) and sampled through the follow-up displacement.
    """
    brng = np.random.default_rng(np.random.SeedSequence([seed, 11, plan.index]))
    fu = draw_field(brng, anat, bio)
    anat_fu = subject_anatomy(np.random.default_rng(np.random.SeedSequence([seed, 1, plan.subject_index])),
                              preset.sim_spacing, fields=preset.fields_t, follow_up=fu.field)
    grown, record = follow_up_lesions(brng, fu, lesions, plan.change, plan.split, bio,
                                      anat_fu.labels, anat_fu.affine)
    return anat_fu, grown, record


def _write_new_lesions(res: CaseResult, bio: dict, session: str, acq: Acquisition, case: str, out_dir: Path,
                       meta: dict) -> None:
    """Write ``<session>_new_lesions.nii.gz`` (value k + 1 = the k-th new lesion) and record it."""
    mask = np.zeros(acq.labels.shape, np.uint8)
    for k, rec in enumerate(bio["new_lesions"]):
        mask[acq.labels == rec["label"]] = k + 1
    path = f"cases/{case}/{session}_new_lesions.nii.gz"
    res.hashes[path] = write_nifti(mask, acq.affine, out_dir / path, dtype=np.uint8)
    bio.setdefault("new_lesion_masks", {})[session] = path
    vox = float(abs(np.linalg.det(acq.affine[:3, :3])))
    meta["new_lesion_mm3"] = [round(float((mask == k + 1).sum()) * vox, 2)
                              for k in range(len(bio["new_lesions"]))]


def _lesion_records(bl: list[Lesion], fu: list[Lesion], bio: dict) -> list[dict]:
    """Per BL lesion: BL centre, diameter and volumes at BL and at the follow-up (0 if it vanished)."""
    survivors = iter(fu[1:])
    states = [fu[0]] + [None if r["vanished"] else next(survivors) for r in bio["non_target"]]
    return [{"centre_mm": [round(float(c), 2) for c in les.centre],
             "centre_fu_mm": None if g is None else [round(float(c), 2) for c in g.centre],
             "diameter_mm": round(2 * les.radius * (1 + 0.5 * les.lobe_amp.sum()), 2),
             "ring_enhancing": les.core > 0, "oedema_mm": round(les.oedema, 2),
             "volume_bl_mm3": round(les.volume_mm3(), 2),
             "volume_fu_mm3": 0.0 if g is None else round(g.volume_mm3(), 2), "vanished": g is None}
            for les, g in zip(bl, states)]


def _worker(args: tuple[Preset, int, CasePlan, Path]) -> CaseResult:
    return simulate_case(*args)


def build_cohort(preset: Preset, out_dir: Path, seed: int, *, workers: int | None = None,
                 progress=None, force: bool = False) -> Path:
    """Write all cases, ``manifest.csv``, ``truth.json`` and ``dataset.json``; returns the manifest.

    Args:
        preset: the cohort recipe.
        out_dir: destination folder (created).
        seed: master seed.
        workers: parallel processes (default :func:`harmbench.parallel.default_workers`:
            ``HARMBENCH_WORKERS`` or min(2, CPUs)); results do not depend on it.
        progress: optional ``progress(done, total, what)`` callable.
        force: build even if ``out_dir`` holds another dataset (or seed); its case files stay.

    Raises:
        DataError: ``out_dir`` holds another dataset's or another seed's files (unless ``force``).
    """
    out = Path(out_dir)
    check_dataset_folder(out, preset.name, seed, force=force)
    out.mkdir(parents=True, exist_ok=True)
    plans = plan_cases(preset, seed)
    if workers is None:
        workers = default_workers()
    jobs = [(preset, seed, p, out) for p in plans]
    results: list[CaseResult] = []
    if workers > 1 and len(plans) > 2:
        with worker_pool(workers) as pool:
            for i, r in enumerate(pool.map(_worker, jobs)):
                results.append(r)
                if progress:
                    progress(i + 1, len(plans), f"simulated {r.truth['case']}")
    else:
        for i, job in enumerate(jobs):
            results.append(_worker(job))
            if progress:
                progress(i + 1, len(plans), f"simulated {job[2].case}")
    rows = [row for r in results for row in r.rows]
    manifest_text = pd.DataFrame(rows).to_csv(index=False, lineterminator="\n")
    manifest = write_text_atomic(out / "manifest.csv", manifest_text)
    hashes = {k: v for r in results for k, v in r.hashes.items()}
    h = hashlib.sha256(manifest_text.encode())
    for key in sorted(hashes):
        h.update(f"{key}:{hashes[key]}\n".encode())
    write_json_atomic(out / "truth.json", {"cases": [r.truth for r in results]})
    write_json_atomic(out / "dataset.json", {
        "name": preset.name, "template_space": False, "dataset_hash": h.hexdigest(), "prepared": False,
        "generator": GENERATOR, "seed": seed,
        "prepare": {"spacing": preset.prepare_spacing},
        "scanners": {"baseline": preset.bl.name, "follow_up": preset.fu.name},
        "counts": {"train": preset.n_train, "val": preset.n_val, "test-A": preset.n_test_a,
                   "test-B": preset.n_test_b},
    })
    return manifest
