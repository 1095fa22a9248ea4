"""The dashboard page's content: the selectors' figures, shaped into charts, tables and CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from insights import charts
from insights.models import SearchEvent
from insights.selectors import (
    DateRange,
    DayFigures,
    days_figures,
    open_figures,
    products_never_shown,
    top_queries,
)
from insights.services.drift import DriftReport, drift_report
from search.services.model_switch import embedding_model_active

NEVER_SHOWN_LISTED = 20


@dataclass(frozen=True)
class Totals:
    searches: int
    visitors: int
    no_results_share: float | None
    no_close_match_share: float | None


def _totals(figures: list[DayFigures]) -> Totals:
    searches = sum(d.searches for d in figures)
    photos = sum(d.photo_searches for d in figures)
    return Totals(
        searches=searches,
        visitors=sum(d.visitors for d in figures),  # per day: a salt lives one day
        no_results_share=sum(d.no_results for d in figures) / searches if searches else None,
        no_close_match_share=sum(d.no_close_match for d in figures) / photos if photos else None,
    )


def dashboard_context(days: DateRange) -> dict[str, Any]:
    figures = days_figures(days)
    dates = [d.day for d in figures]
    kinds = {label: [d.by_kind.get(kind, 0) for d in figures] for kind, label in SearchEvent.Kind.choices}
    never_shown = products_never_shown(days)
    model = embedding_model_active()
    drift = drift_report(model, today=days.end) if model is not None else None
    return {
        "days": days,
        "figures": figures,
        "totals": _totals(figures),
        "opens": open_figures(days),
        "top_queries": top_queries(days),
        "top_failed": top_queries(days, failed_only=True),
        "never_shown_count": never_shown.count(),
        "never_shown": list(never_shown[:NEVER_SHOWN_LISTED]),
        "drift": drift,
        "charts": {
            "kinds": charts.stacked_bars("Searches per day by kind", dates, kinds),
            "failures": charts.lines(
                "Share of searches with no results, and of photo searches with no close match",
                dates,
                {
                    "No results": [d.no_results_share for d in figures],
                    "No close match (photos)": [d.no_close_match_share for d in figures],
                },
                fmt=charts.percent,
                top=1.0,
            ),
            "latency": charts.lines(
                "Search time per day (median and 95th percentile)",
                dates,
                {"p50": [d.latency_p50 for d in figures], "p95": [d.latency_p95 for d in figures]},
                fmt=charts.milliseconds,
            ),
            "drift": _drift_chart(drift, days) if drift is not None else None,
        },
    }


def _drift_chart(drift: DriftReport, days: DateRange) -> charts.Chart:
    by_day = {row.day: row for row in drift.days}
    dates = list(days.days())
    series: dict[str, list[float | None]] = {
        "Median best distance": [by_day[d].distance_p50 if d in by_day else None for d in dates],
    }
    dashed = []
    if drift.baseline.distance_p50 is not None:
        series["First weeks"] = [drift.baseline.distance_p50] * len(dates)
        dashed.append("First weeks")
    if drift.calibration_p50 is not None:
        series["Calibration"] = [drift.calibration_p50] * len(dates)
        dashed.append("Calibration")
    title = f"Photo searches: distance to the nearest catalog photo ({drift.model.name})"
    return charts.lines(title, dates, series, fmt=lambda v: f"{v:.2f}", dashed=dashed)


CSV_COLUMNS = [
    "day", "searches", *[kind for kind, _ in SearchEvent.Kind.choices], "no_results", "photo_searches",
    "no_close_match", "visitors", "opened", "latency_p50_ms", "latency_p95_ms",
]  # fmt: skip


def dashboard_csv(days: DateRange) -> str:
    """The dashboard's daily figures as CSV (one row per day)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for d in days_figures(days):
        writer.writerow([
            d.day.isoformat(), d.searches, *[d.by_kind.get(kind, 0) for kind, _ in SearchEvent.Kind.choices],
            d.no_results, d.photo_searches, d.no_close_match, d.visitors, d.opens,
            _ms(d.latency_p50), _ms(d.latency_p95),
        ])  # fmt: skip
    return out.getvalue()


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"
