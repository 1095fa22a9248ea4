"""The benchmark's table: one row per figure, one column per preset and baseline, with the goals."""

from __future__ import annotations

from typing import Any

# Issue 11's goals: (">=" or "<=", value). Figures without a goal are shown for context.
GOALS: dict[str, tuple[str, float]] = {
    "fashion shopper R@1": (">=", 0.85),
    "fashion shopper R@10": (">=", 0.97),
    "fashion shopper flagged": ("<=", 0.02),
    "grocery val one photo R@1": (">=", 0.45),
    "grocery val one photo flagged": ("<=", 0.05),
    "grocery val with train photos R@1": (">=", 0.75),
    "grocery val with train photos flagged": ("<=", 0.05),
    # Issue 14: the model tuned to the shop on the train split's shop photos (--tune).
    "grocery val one photo (tuned) R@1": (">=", 0.60),
    "fashion more-like-this P@10 type": (">=", 0.85),
    "fashion more-like-this P@10 type+colour": (">=", 0.45),
    "fashion words P@10": (">=", 0.97),
    "fashion catalog: grocery photos flagged": (">=", 0.90),
    "grocery catalog: fashion photos flagged": (">=", 0.90),
}
BASELINES = ("colour histogram", "perceptual hash", "full-text alone")


def goal_met(name: str, value: float) -> bool | None:
    if name not in GOALS:
        return None
    sense, target = GOALS[name]
    return value >= target if sense == ">=" else value <= target


def table(report: dict[str, Any]) -> str:
    results: dict[str, dict[str, Any]] = report["results"]
    presets = list(results)
    columns = presets + [b for b in BASELINES if any(b in s for r in results.values() for s in r.values())]
    rows: dict[str, dict[str, float]] = {}
    for preset, sets in results.items():
        for data in sets.values():
            for name, value in data.get("service", {}).items():
                rows.setdefault(name, {})[preset] = value
            if preset == presets[0]:
                for baseline in BASELINES:
                    for name, value in data.get(baseline, {}).items():
                        rows.setdefault(name, {})[baseline] = value
    width = max(len(name) for name in rows) if rows else 10
    head = f"{'figure':<{width}}  {'goal':>7}  " + "  ".join(f"{c[:16]:>16}" for c in columns)
    lines = [f"Quality benchmark, {report['started']} ({report['command']})", head, "-" * len(head)]
    for name in sorted(rows, key=_row_order):
        goal = "".join(str(x) for x in GOALS[name]) if name in GOALS else ""
        cells = []
        for column in columns:
            value = rows[name].get(column)
            mark = ""
            if value is not None and column in presets:
                met = goal_met(name, value)
                mark = "" if met is None else (" ok" if met else " ..")
            cells.append(f"{'' if value is None else f'{value:.3f}'}{mark:>3}".rjust(16))
        lines.append(f"{name:<{width}}  {goal:>7}  " + "  ".join(cells))
    lines.append("")
    lines.append("latency per query, ms (p50 / p95), through the service")
    for preset, sets in results.items():
        for set_name, data in sets.items():
            for kind, times in data.get("latency_ms", {}).items():
                p50, p95 = times["p50"], times["p95"]
                lines.append(f"  {preset:<10} {set_name:<8} {kind:<26} {p50:8.1f} / {p95:8.1f}  (n={times['n']})")
            build = data.get("build", {})
            if build:
                lines.append(
                    f"  {preset:<10} {set_name:<8} build: {build['products']} products, {build['images']} images, "
                    f"import {build['import_seconds']:.0f} s, index {build['index_seconds']:.0f} s, "
                    f"no-match calibration {build.get('calibration_seconds', 0):.0f} s"
                    + _threshold(build)
                    + (
                        f", tune {build['tune_seconds']:.0f} s, gate {build['gate_seconds']:.0f} s"
                        if build.get("tune_seconds")
                        else ""
                    )
                )
            if data.get("tuned"):
                lines.append(f"  {preset:<10} {set_name:<8} {_tuned_line(data['tuned'])}")
    return "\n".join(lines)


def _threshold(build: dict[str, Any]) -> str:
    if build.get("no_match_threshold") is None:
        return ""
    return f" (threshold {build['no_match_threshold']:.3f}, {build.get('no_match_space') or 'search distance'})"


def _tuned_line(tuned: dict[str, Any]) -> str:
    t = tuned["training"]
    return (
        f"tuned {tuned['model']}: {t['products']} products, {t['photos']} photos "
        f"({len(t.get('held_out_images') or [])} shop photos held out for the gate), {t['steps']} steps, "
        f"loss {t['loss_first']:.3f} -> {t['loss_last']:.3f}, {t['seconds']:.0f} s; "
        f"activated by the {tuned['activated_by']}. Gate: {tuned['gate']}"
    )


def _row_order(name: str) -> tuple[int, str]:
    order = ("fashion shopper", "fashion more", "fashion words", "grocery", "fashion catalog", "grocery catalog")
    return next((i for i, prefix in enumerate(order) if name.startswith(prefix)), len(order)), name
