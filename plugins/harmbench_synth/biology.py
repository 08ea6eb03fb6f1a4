"""Inter-session biology: what changes in the brain between BL and the follow-up time point.

Switched on by a preset's :class:`~harmbench_synth.presets.Biology` (off for every preset but
``synth-tiny-bio``). FU and FU2 image the same time point, so they share one draw; BL is untouched.

* **Brain shift**: a smooth random diffeomorphic displacement
  (:func:`~harmbench_synth.anatomy.random_displacement`, scaling and squaring) tapered to zero at
  the skull, so it is not a rigid motion and rigid registration cannot remove it.
* **Interval atrophy**: ventricular and sulcal/extracerebral CSF expansion fields
  (:func:`~harmbench_synth.anatomy.expansion_field` of the subject's own label map).
  The three fields add into one follow-up displacement ``u``: the follow-up head at ``x`` is the
  BL head at ``x + u(x)`` (:func:`~harmbench_synth.anatomy.subject_anatomy` ``follow_up``).
* **Lesions move with the brain** (centre ``c`` -> ``x`` with ``x + u(x) = c``; their shape is kept,
  so the target's volume and ``change`` stay exact) and change: treatment effect on every lesion's
  oedema, the target's necrotic fraction, a volume change of each non-target lesion.
* **Test-B only**: 1-2 new small enhancing lesions (labelled :data:`NEW_LESION_LABEL` + k in the
  follow-up label maps) and, with some probability, one non-target lesion that vanishes.

Every draw comes from the generator the caller passes (``SeedSequence([seed, 11, case])`` in
:func:`harmbench_synth.cohort.simulate_case`), never from the existing per-case streams.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

from harmbench.metrics.new_lesion import NEW_LESION_LABEL
from harmbench_synth.anatomy import FIELD_SPACING, SubjectAnatomy, expansion_field, random_displacement
from harmbench_synth.atlas import box_grid
from harmbench_synth.lesions import Lesion, random_lesion
from harmbench_synth.presets import Biology

SULCAL_LABELS = (24,)  # unlabelled CSF inside the head: sulci and the extracerebral space


@dataclass(frozen=True)
class FollowUpBiology:
    """One case's follow-up time point.

    Attributes:
        field: (3, Fx, Fy, Fz) float32 follow-up displacement (mm) on the ``FIELD_SPACING`` grid.
        record: the drawn amplitudes and measured sizes for ``truth.json`` (RMS and maximum of the
            brain shift and of the whole displacement in the brain, and what is left of it after
            the best rigid fit, :func:`rigid_residual`).
    """

    field: np.ndarray
    record: dict


def field_at(field: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Displacement (mm) of a field-grid ``field`` at head-coordinate points (3, N) in mm."""
    _, faff = box_grid(FIELD_SPACING)
    idx = (np.asarray(pts, np.float64) - faff[:3, 3:4]) / FIELD_SPACING
    return np.stack([ndimage.map_coordinates(f, idx, order=1, mode="nearest") for f in field])


def _brain_weight(anat: SubjectAnatomy) -> np.ndarray:
    """Smooth brain indicator on the field grid (1 deep in the brain, 0 at the skull and outside)."""
    shape, faff = box_grid(FIELD_SPACING)
    h = anat.spacing
    brain = ndimage.gaussian_filter((anat.labels > 0).astype(np.float32), 2.0 / h)
    m = np.linalg.inv(anat.affine) @ faff
    coarse = ndimage.affine_transform(brain, m[:3, :3], m[:3, 3], output_shape=shape, order=1)
    # erode by ~4 mm before smoothing, so the field fades out inside the brain's edge
    smooth = ndimage.gaussian_filter(coarse, 4.0 / FIELD_SPACING)
    return np.clip(smooth * 2.0 - 1.0, 0.0, 1.0).astype(np.float32)


def draw_field(rng: np.random.Generator, anat: SubjectAnatomy, bio: Biology) -> FollowUpBiology:
    """Draw the follow-up displacement (brain shift + atrophy) of one case.

    Args:
        rng: the case's biology generator.
        anat: the subject's BL anatomy.
        bio: amplitude ranges.
    """
    amp = float(rng.uniform(*bio.deformation_rms_mm))
    vent = float(rng.uniform(*bio.ventricle_mm))
    sulc = float(rng.uniform(*bio.sulcal_mm))
    weight = _brain_weight(anat)
    shift = random_displacement(rng, amp) * weight
    field = (shift + vent * expansion_field(anat.labels, anat.affine)
             + sulc * expansion_field(anat.labels, anat.affine, SULCAL_LABELS)).astype(np.float32)
    inside = weight > 0.5
    norm = np.sqrt((shift**2).sum(axis=0))[inside]
    total = np.sqrt((field**2).sum(axis=0))[inside]
    _, faff = box_grid(FIELD_SPACING)
    pts = (faff[:3, :3] @ np.argwhere(inside).T + faff[:3, 3:4]).T
    resid = rigid_residual(pts, pts + field[:, inside].T)
    record = {"deformation_rms_mm": round(amp, 3),
              "brain_shift_rms_mm": round(float(np.sqrt((norm**2).mean())), 3),
              "brain_shift_max_mm": round(float(norm.max()), 3),
              "displacement_rms_mm": round(float(np.sqrt((total**2).mean())), 3),
              "rigid_residual_rms_mm": round(float(np.sqrt((resid**2).mean())), 3),
              "rigid_residual_max_mm": round(float(resid.max()), 3),
              "ventricle_expansion_mm": round(vent, 3), "sulcal_expansion_mm": round(sulc, 3)}
    return FollowUpBiology(field=field, record=record)


def rigid_residual(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Per-point distance (mm) left after the least-squares rigid map of ``src`` onto ``dst`` (N, 3).

    The best rotation and translation (Kabsch); what rigid registration could at best remove.
    """
    a, b = src - src.mean(axis=0), dst - dst.mean(axis=0)
    u, _, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    rot = u @ np.diag([1.0, 1.0, d]) @ vt
    return np.linalg.norm(a @ rot - b, axis=1)


def moved(lesion: Lesion, field: np.ndarray) -> Lesion:
    """The lesion carried by the brain: centre ``x`` with ``x + field(x) = centre`` (shape kept)."""
    x = lesion.centre.copy()
    for _ in range(4):  # fixed point; |∇u| << 1, so it converges in a few steps
        x = lesion.centre - field_at(field, x[:, None])[:, 0]
    return replace(lesion, centre=x)


def treated(rng: np.random.Generator, lesion: Lesion, bio: Biology, *, target: bool,
            change: float = 0.0) -> tuple[Lesion, dict]:
    """A lesion's follow-up state: volume ``change``, oedema factor, necrotic-core change.

    The necrotic fraction changes only on a target whose volume changes: a stable target
    (``change`` 0, e.g. every test-A case) keeps its enhancing tissue, so "unchanged" stays the
    right call on it; only its oedema varies.
    """
    f = float(rng.uniform(*bio.oedema_factor))
    core = lesion.core
    if target:  # the draws do not depend on ``change``
        if core > 0:
            shifted = float(np.clip(core + rng.uniform(*bio.core_shift), 0.3, 0.85))
            core = shifted if change else core
        elif 2 * lesion.radius >= 10.0 and rng.random() < bio.new_necrosis:
            necrotic = float(rng.uniform(0.3, 0.5))
            core = necrotic if change else core
    out = replace(lesion.scaled(change), core=core)
    out = replace(out, oedema=out.oedema * f)
    return out, {"change": round(change, 4), "oedema_factor": round(f, 3),
                 "oedema_mm_fu": round(out.oedema, 2),
                 "core_bl": round(lesion.core, 3), "core_fu": round(core, 3)}


def place_new(rng: np.random.Generator, labels: np.ndarray, affine: np.ndarray, diameter_mm: float,
              others: list[Lesion], code: int) -> Lesion:
    """A new enhancing lesion of ``diameter_mm`` in cerebral white matter, clear of ``others``.

    Its [Gd] is drawn as a target lesion's (enhancing above WM), its label in the label map is
    ``code``.
    """
    h = float(np.linalg.norm(affine[:3, 0]))
    depth = ndimage.distance_transform_edt(labels > 0, sampling=h)
    ok = np.isin(labels, (2, 41)) & (depth >= diameter_mm / 2 + 6.0)
    idx = np.argwhere(ok)
    pts = (affine[:3, :3] @ idx.T + affine[:3, 3:4]).T
    clear = np.ones(len(idx), bool)
    for o in others:
        gap = o.reach + max(o.oedema, 0.0) * 0.5 + diameter_mm / 2 + 4.0
        clear &= np.linalg.norm(pts - o.centre, axis=1) > gap
    cand = pts[clear] if clear.any() else pts
    c = cand[rng.integers(len(cand))]
    return replace(random_lesion(rng, c, diameter_mm, target=True), code=code)


def follow_up_lesions(rng: np.random.Generator, fu: FollowUpBiology, bl_lesions: list[Lesion],
                      change: float, split: str, bio: Biology, labels_fu: np.ndarray,
                      affine: np.ndarray) -> tuple[list[Lesion], dict]:
    """The follow-up lesions (target first, surviving non-targets, then new ones) and their record.

    Args:
        rng: the case's biology generator (after :func:`draw_field`).
        fu: the follow-up displacement.
        bl_lesions: BL lesions, target first.
        change: the target's recorded relative volume change.
        split: the case's split (new and vanishing lesions on ``test-B`` only).
        bio: amplitude ranges.
        labels_fu: the follow-up label map on the simulation grid (``affine``), for placement.
    """
    target, rec_t = treated(rng, moved(bl_lesions[0], fu.field), bio, target=True, change=change)
    vanish = -1
    if split == "test-B" and len(bl_lesions) > 1 and rng.random() < bio.vanish:
        vanish = int(rng.integers(1, len(bl_lesions)))
    out, rec_nt = [target], []
    for i, les in enumerate(bl_lesions[1:], start=1):
        dv = float(rng.uniform(*bio.nontarget_change))
        if i == vanish:
            rec_nt.append({"index": i, "vanished": True})
            continue
        les_fu, r = treated(rng, moved(les, fu.field), bio, target=False, change=dv)
        out.append(les_fu)
        rec_nt.append({"index": i, "vanished": False, **r})
    new: list[Lesion] = []
    if split == "test-B":
        for k in range(int(rng.integers(bio.new_lesions[0], bio.new_lesions[1] + 1))):
            diam = float(rng.uniform(*bio.new_diameter_mm))
            new.append(place_new(rng, labels_fu, affine, diam, out + new, NEW_LESION_LABEL + k))
    record = {**fu.record, "target": rec_t, "non_target": rec_nt,
              "vanished": [] if vanish < 0 else [vanish],
              "new_lesions": [{"label": les.code, "mask_value": k + 1,
                               "centre_mm": [round(float(c), 2) for c in les.centre],
                               "diameter_mm": round(2 * les.radius * (1 + 0.5 * les.lobe_amp.sum()), 2),
                               "volume_mm3": round(les.volume_mm3(), 2), "gd_mm": round(les.gd_mm, 4)}
                              for k, les in enumerate(new)]}
    return out + new, record
