"""The sandbox report: a Markdown page with the round table, and plots."""

from __future__ import annotations

from pathlib import Path

from .report_data import save as save_data
from .runner import RoundRow, SandboxResult

COLUMNS = [
    ("round", "Round"), ("uploaded", "Uploaded"), ("detected", "Detected"), ("failed", "Failed"), ("pending", "Pending"),
    ("to_review", "Reviews"), ("review_reasons", "Why"), ("accepted", "Accepted"),
    ("training", "Training"), ("f1", "F1"), ("holdout_f1", "Holdout F1"), ("deployed", "Deployed"),
]


def cell(row: RoundRow, key: str) -> str:
    value = getattr(row, key)
    if isinstance(value, float):
        return f"{value:.3f}"
    return "-" if value in (None, "") else str(value)


def summary_lines(result: SandboxResult) -> list[str]:
    versions = result.versions
    first, final = result.first_deployed, result.final_active
    lines = []
    if first and final:
        lines.append(f"Model: {first} (holdout F1 {versions[first]['holdout_f1']:.3f}) → {final} "
                     f"(holdout F1 {versions[final]['holdout_f1']:.3f}), {_count(len(versions), 'version')} trained, "
                     f"{sum(v['deployed'] for v in versions.values())} deployed")
    else:
        lines.append("Model: no version was deployed")
    lines.append(f"Images: {result.detections} detected at {result.images_per_second:.1f} images/s; "
                 f"{result.reviews_started} sent to review, {result.reviews_accepted} added to training data"
                 + (f" ({result.wrong_answers} reviewer answers were wrong)" if result.wrong_answers else ""))
    failed = sum(result.failures.values())
    if failed:
        reason, n = next(iter(result.failures.items()))
        replay = f"--sandbox {result.options.out}" if result.options.out is not None else "on a saved run (--out DIR)"
        lines.append(f"! {failed} detections failed after their retries ({n}: {reason}); fix the cause, then "
                     f"`labelloop replay --failed {replay}` detects them again")
    lines += [f"! Stuck: {line}" for line in result.stuck]
    lines.append(f"Run: {result.wall_seconds:.1f} s wall time, peak memory {result.peak_memory_mb:.0f} MB")
    return lines


def final_model_lines(result: SandboxResult) -> list[str]:
    """The final model on the holdout images: a table per label, and the confusion matrix."""
    scores = result.final_scores
    if scores is None:
        return []
    labels = list(scores.per_label)
    answered = sorted({p for row in scores.confusion.values() for p in row}, key=lambda p: (p not in labels, p))
    short = lambda label: label.removeprefix("digit-")  # noqa: E731
    return [
        f"## Final model {scores.version} on the holdout images", "",
        f"Macro F1 {scores.f1:.3f}, precision {scores.precision:.3f}, recall {scores.recall:.3f} on "
        f"{scores.images} images never uploaded.", "",
        "| Label | F1 | Precision | Recall | Images |", "|---|---|---|---|---|",
        *[f"| {label} | {m.f1:.3f} | {m.precision:.3f} | {m.recall:.3f} | {sum(scores.confusion[label].values())} |"
          for label, m in scores.per_label.items()], "",
        "Confusion matrix (rows: true label, columns: the model's answer):", "",
        "| true label | " + " | ".join(short(p) for p in answered) + " |",
        "|---|" + "---|" * len(answered),
        *[f"| {short(label)} | " + " | ".join(str(scores.confusion[label].get(p, 0) or "·") for p in answered) + " |"
          for label in labels], "",
    ]


def reviewer_lines(result: SandboxResult) -> list[str]:
    """Each reviewer's answers against the true labels (simulated reviewers, and people on the saved run)."""
    if not result.reviewers:
        return []
    return ["## Reviewers", "",
            "Every answer against the image's true label, which the sandbox knows (a stack does not).", "",
            "| Reviewer | Answers | Right | Accuracy |", "|---|---|---|---|",
            *[f"| {name} | {answered} | {right} | {right / answered:.0%} |"
              for name, (right, answered) in result.reviewers.items() if answered], ""]


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def write_report(result: SandboxResult, out: Path) -> list[Path]:
    """``report.md`` and its plots, and what they are built from (``report.json``: a later command that
    changes the run brings them up to date from it)."""
    out.mkdir(parents=True, exist_ok=True)
    save_data(result, out)
    plots = [_plot_f1(result, out / "f1_per_version.png"), _plot_reviews(result, out / "reviews_per_round.png"),
             _plot_confidence(result, out / "confidence.png")]
    options = result.options
    lines = [
        "# labelloop sandbox report", "",
        f"Seed {options.seed}, {sum(r.uploaded for r in result.rows)} images streamed in "
        f"{len(result.rows) - 1} rounds, reviewer error rate {options.error_rate:.0%}, "
        f"policies: {', '.join(options.policies) or 'defaults only'}.", "",
        *[f"- {line}" for line in summary_lines(result)], "",
        "## Rounds", "",
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
        *["| " + " | ".join(cell(row, key).replace("|", "/") for key, _ in COLUMNS) + " |" for row in result.rows],
        "",
        "F1 is the model's own evaluation on its held-out test split (what the deployment gate sees); "
        "holdout F1 is measured on images never uploaded, the same for every version.", "",
        *final_model_lines(result),
        *reviewer_lines(result),
        *(["## After the run", "", *[f"- {line}" for line in result.after_run], ""] if result.after_run else []),
        "## Plots", "",
        *[f"![{p.stem.replace('_', ' ')}]({p.name})" for p in plots], "",
    ]
    (out / "report.md").write_text("\n".join(lines))
    return [out / "report.md", *plots]


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _plot_f1(result: SandboxResult, path: Path) -> Path:
    return _save(_figure(), f1_figure(result), path)


def f1_figure(result: SandboxResult):
    """Each version's F1, on the whole 0–1 scale (a narrow one would make a small change look large), its
    holdout F1 written beside it."""
    plt = _figure()
    names = list(result.versions)
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = range(len(names))
    ax.plot(xs, [result.versions[n]["f1"] for n in names], "o-", label="F1 (test split, deployment gate)")
    ax.plot(xs, [result.versions[n]["holdout_f1"] for n in names], "s-", label="F1 on holdout images")
    for x, name in zip(xs, names):
        holdout = result.versions[name]["holdout_f1"]
        if holdout is not None:
            deployed = ", deployed" if result.versions[name]["deployed"] else ""
            ax.annotate(f"{holdout:.3f}{deployed}", (x, holdout), textcoords="offset points", xytext=(0, -14),
                        ha="center", fontsize=7)
    ax.set_xticks(list(xs), names)
    ax.set_ylim(0.0, 1.02)
    ax.set_xlabel("model version")
    ax.set_ylabel("macro F1")
    ax.set_title("F1 per model version")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3)
    return fig


def _plot_reviews(result: SandboxResult, path: Path) -> Path:
    return _save(_figure(), reviews_figure(result), path)


def reviews_figure(result: SandboxResult):
    """Reviews started per round, stacked by the policy that started them, and the answers accepted."""
    plt = _figure()
    rounds = [r.round for r in result.rows]
    policies = sorted({policy for r in result.rows for policy in r.reviews_by})
    fig, ax = plt.subplots(figsize=(8, 4))
    bottom = [0] * len(rounds)
    for policy in policies:
        heights = [r.reviews_by.get(policy, 0) for r in result.rows]
        ax.bar(rounds, heights, bottom=bottom, label=policy)
        bottom = [b + h for b, h in zip(bottom, heights)]
    ax.plot(rounds, [r.accepted for r in result.rows], "k.--", label="accepted into training data")
    ax.set_xticks(rounds)
    ax.set_xlabel("round")
    ax.set_ylabel("reviews")
    ax.set_title("Reviews started per round, by the policy that started them")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return fig


def _plot_confidence(result: SandboxResult, path: Path) -> Path:
    plt = _figure()
    rounds = sorted({r for r, _ in result.confidences})
    data = [[c for r, c in result.confidences if r == n] for n in rounds]
    fig, ax = plt.subplots(figsize=(7, 4))
    if data:
        ax.boxplot(data, positions=rounds, widths=0.6)
        ax.set_xticks(rounds)
    threshold = float(result.parameters.get("Minimum-Label-Detection-Confidence", 70))
    ax.axhline(threshold, color="red", linestyle="--", label=f"review threshold {threshold:g}")
    ax.set_xlabel("round")
    ax.set_ylabel("top-label confidence")
    ax.set_title("Confidence of detections per round")
    ax.legend()
    return _save(plt, fig, path)
