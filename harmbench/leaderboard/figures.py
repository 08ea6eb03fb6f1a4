"""Matplotlib figures for the report: box plots, CNR bars, rank diagrams, slice montages (PNG bytes)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from harmbench.leaderboard.cells import run_order  # noqa: E402


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def box_plot(results: pd.DataFrame, summary: pd.DataFrame, metric: str, test_set: str) -> bytes | None:
    s = results[(results["metric"] == metric) & (results["test_set"] == test_set)]
    if s.empty:
        return None
    runs = [r for r in run_order(summary[summary["metric"] == metric]) if r in set(s["run"])]
    data = [s[s["run"] == r]["value"].replace([np.inf, -np.inf], np.nan).dropna().to_numpy() for r in runs]
    fig, ax = plt.subplots(figsize=(max(4, 0.9 * len(runs) + 1), 3.2))
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(range(1, len(runs) + 1), runs, rotation=35, ha="right", fontsize=8)
    ax.set_title(f"{metric} — test set {test_set}")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def cnr_bars(summary: pd.DataFrame, test_set: str) -> bytes | None:
    s = summary[(summary["metric"] == "cnr-diff") & (summary["test_set"] == test_set)]
    if s.empty:
        return None
    regions = sorted(set(s["region"]))
    runs = run_order(s)
    width = 0.8 / max(len(runs), 1)
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(regions) + 2), 3.5))
    x = np.arange(len(regions))
    for i, run in enumerate(runs):
        vals = [s[(s["run"] == run) & (s["region"] == r)]["mean"].mean() for r in regions]
        ax.bar(x + i * width - 0.4 + width / 2, vals, width, label=run)
    ax.set_xticks(x, regions, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("|CNR_BL − CNR_FU|")
    ax.set_title(f"Regional CNR difference — test set {test_set}")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def downstream_bars(summary: pd.DataFrame, test_set: str) -> bytes | None:
    """Left: scanner AUC per run with its 95 % CI (0.5 dashed); right: mean |ΔV| % per tissue and run."""
    s = summary[summary["test_set"] == test_set]
    auc = s[s["metric"] == "scanner-auc"].dropna(subset=["mean"])
    vol = s[(s["metric"] == "tissue-volume-diff") & s["region"].isin(["csf", "gm", "wm"])]
    if auc.empty and vol.empty:
        return None
    runs = run_order(s[s["metric"].isin(["scanner-auc", "tissue-volume-diff"])])
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(8, 1.2 * len(runs) + 4), 3.4))
    x = np.arange(len(runs))
    rows = [auc[auc["run"] == r] for r in runs]
    means = np.array([float(r["mean"].iloc[0]) if not r.empty else np.nan for r in rows])
    lo = np.array([float(r["ci_lo"].iloc[0]) if not r.empty else np.nan for r in rows])
    hi = np.array([float(r["ci_hi"].iloc[0]) if not r.empty else np.nan for r in rows])
    left.bar(x, means, color="tab:blue")
    left.errorbar(x, means, yerr=[np.nan_to_num(means - lo), np.nan_to_num(hi - means)], fmt="none", color="k",
                  capsize=3)
    left.axhline(0.5, color="grey", linestyle="--", linewidth=1)
    left.set_ylim(0, 1.05)
    left.set_xticks(x, runs, rotation=35, ha="right", fontsize=8)
    left.set_title(f"Scanner-classifier AUC [95 % CI] — test {test_set}", fontsize=9)
    width = 0.8 / 3
    for i, tissue in enumerate(("csf", "gm", "wm")):
        vals = [vol[(vol["run"] == r) & (vol["region"] == tissue)]["mean"].mean() for r in runs]
        right.bar(x + (i - 1) * width, vals, width, label=tissue)
    right.set_xticks(x, runs, rotation=35, ha="right", fontsize=8)
    right.set_ylabel("|V − V_BL| / V_BL (%)")
    right.set_title(f"Tissue-volume difference vs BL — test {test_set}", fontsize=9)
    right.legend(fontsize=7)
    for ax in (left, right):
        ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def montage(bl: np.ndarray, fu: np.ndarray, images: dict[str, np.ndarray], title: str) -> bytes:
    """Rows: methods; columns: BL, original FU, harmonized, |harmonized − BL| (one axial slice)."""
    n = len(images)
    fig, axes = plt.subplots(n, 4, figsize=(8, 2.1 * n), squeeze=False)
    for i, (run, h) in enumerate(images.items()):
        for j, (img, lab, cmap, vmax) in enumerate([(bl, "BL", "gray", 1), (fu, "original FU", "gray", 1),
                                                    (h, run, "gray", 1), (np.abs(h - bl), "|diff|", "magma", 0.3)]):
            ax = axes[i, j]
            ax.imshow(np.rot90(img), cmap=cmap, vmin=0, vmax=vmax)
            ax.set_title(lab, fontsize=8)
            ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(hspace=0.45, wspace=0.45)
    return _png(fig)


def training_curves(run: str, training: dict) -> bytes | None:
    """One run's training summary: a panel per validation curve (``val_*``) and one of the losses.

    The selection metric's panel comes first and shows the untrained identity's score (dotted);
    every validation panel marks the selected iteration (dashed). None when there are no curves.
    """
    curves = training.get("curves") or {}
    metric = training.get("selection_metric", "")
    val = sorted((k for k, v in curves.items() if k.startswith("val_") and v), key=lambda k: (k != metric, k))
    panels = [(k, {k: curves[k]}) for k in val]
    loss = {k: v for k, v in curves.items() if "loss" in k and v}
    if loss:
        panels.append(("training loss", loss))
    if not panels:
        return None
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.0), squeeze=False)
    selected, identity = training.get("selected_iteration"), training.get("identity_score")
    for ax, (title, data) in zip(axes[0], panels):
        for name, points in sorted(data.items()):
            xy = np.asarray(points, dtype=float)
            ax.plot(xy[:, 0], xy[:, 1], marker="." if len(xy) < 30 else None, label=name)
        if title in val and selected:
            ax.axvline(float(selected), color="k", linestyle="--", linewidth=1, label=f"selected ({selected})")
        if title == metric and identity is not None:
            ax.axhline(float(identity), color="grey", linestyle=":", linewidth=1.5, label="identity (FU)")
        ax.set_xlabel("iteration")
        ax.set_title(f"{run} — {title}", fontsize=9)
        ax.legend(fontsize=7)
        ax.grid(alpha=0.3)
    return _png(fig)


def rank_diagram(panels: list[tuple[str, list[tuple[str, float, float, float, int]]]], title: str) -> bytes | None:
    """Critical-difference-style rank diagram: one panel per endpoint.

    Args:
        panels: ``(endpoint label, [(run, rank, rank_lo, rank_hi, group), ...])`` with runs best first.
        title: figure title.

    Each method is a dot at its rank with its 95 % rank interval; a thick bar on the left joins the
    methods of one rank group (tied: not decisively different), labelled with the group number.
    """
    panels = [(label, rows) for label, rows in panels if rows]
    if not panels:
        return None
    ncol = min(3, len(panels))
    nrow = -(-len(panels) // ncol)
    n = max(len(rows) for _, rows in panels)
    fig, axes = plt.subplots(nrow, ncol, figsize=(4.4 * ncol, 0.32 * n * nrow + 1.2 * nrow), squeeze=False)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    for ax, (label, rows) in zip(axes.ravel(), panels):
        k = len(rows)
        y = np.arange(k)[::-1]
        ranks = np.array([r[1] for r in rows], dtype=float)
        lo, hi = np.array([r[2] for r in rows], dtype=float), np.array([r[3] for r in rows], dtype=float)
        # a percentile interval of bootstrap ranks need not contain the observed rank (ties, few
        # cases): the bar then ends at the dot instead of a negative length, which matplotlib refuses
        ax.errorbar(ranks, y, xerr=[np.clip(ranks - lo, 0.0, None), np.clip(hi - ranks, 0.0, None)],
                    fmt="o", color="tab:blue", ecolor="grey", capsize=2, markersize=4)
        ax.set_yticks(y, [r[0] for r in rows], fontsize=7)
        ax.set_xlim(0.5 - 0.9, k + 0.5)
        ax.set_xlabel("rank (1 = best), 95 % bootstrap interval", fontsize=7)
        groups = sorted({r[4] for r in rows})
        for g in groups:
            ys = [yy for yy, r in zip(y, rows) if r[4] == g]
            color = "k" if len(ys) > 1 else "tab:green"
            ax.plot([-0.2, -0.2], [min(ys) - 0.3, max(ys) + 0.3], color=color, linewidth=4, solid_capstyle="butt")
            ax.text(-0.05, (min(ys) + max(ys)) / 2, str(g), fontsize=7, va="center")
        ax.set_title(label, fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(hspace=0.45, wspace=0.45)
    return _png(fig)
