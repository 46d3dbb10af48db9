from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest

from commands.health_score import HealthScore
from commands.health_score import NoData
from commands.health_score import grade_for
from commands.health_score import score


def percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def totals(**overrides: float) -> dict[str, int | float]:
    """A perfect sender's §7 totals (rates as views._rates derives them), then the overrides."""
    counts: dict[str, int | float] = {
        "sent": 10_000, "delivered": 10_000, "bounced": 0, "failed": 0, "opens": 4_000,
        "unique_opens": 3_000, "clicks": 600, "unique_clicks": 500, "complaints": 0,
        "unsubscribes": 3, "human_opens": 4_000, "scanner_opens": 0, "human_clicks": 600,
        "scanner_clicks": 0,
    }  # fmt: skip
    counts.update({k: v for k, v in overrides.items() if not k.endswith("_rate")})
    sent, delivered = counts["sent"], counts["delivered"]
    rates = {
        "delivery_rate": percent(delivered, sent),
        "open_rate": percent(counts["unique_opens"], delivered or sent),
        "click_rate": percent(counts["unique_clicks"], delivered or sent),
        "bounce_rate": percent(counts["bounced"], sent),
        "complaint_rate": percent(counts["complaints"], delivered or sent),
    }
    rates.update({k: v for k, v in overrides.items() if k.endswith("_rate")})
    return {**counts, **rates}


def component(result: HealthScore, name: str) -> tuple[float, float, str]:
    found = next(c for c in result.components if c.name == name)
    return found.value, found.score, found.band


def test_perfect_sender_scores_100_with_no_recommendations() -> None:
    body = score(totals()).to_dict(datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert body == {
        "health_score": {
            "overall_score": 100.0, "delivery_rate": 100.0, "open_rate": 30.0, "click_rate": 5.0,
            "bounce_rate": 0.0, "complaint_rate": 0.0, "reputation_grade": "A+",
            "last_calculated": "2025-01-02T03:04:05Z",
        },
        "insights": {
            "status": "excellent",
            "summary": "Health is excellent at 100.0/100 (grade A+), with every component in its good band.",
            "recommendations": [],
        },
        "benchmarks": {
            "bounce_rate": {"good": 2.0, "average": 5.0, "poor": 10.0},
            "complaint_rate": {"good": 0.1, "average": 0.5, "poor": 1.0},
            "delivery_rate": {"good": 98.0, "average": 95.0, "poor": 90.0},
            "open_rate": {"good": 25.0, "average": 20.0, "poor": 10.0},
        },
        "components": [
            {"name": name, "metric": metric, "value": value, "score": 100.0, "weight": weight, "band": "good"}
            for name, metric, value, weight in [
                ("bounce", "bounce_rate", 0.0, 35), ("complaint", "complaint_rate", 0.0, 35),
                ("delivery", "delivery_rate", 100.0, 15), ("opens", "open_rate", 30.0, 10),
                ("clicks", "click_rate", 5.0, 5),
            ]
        ],
    }  # fmt: skip


@pytest.mark.parametrize(
    ("bounced", "points", "band", "overall", "grade", "status"),
    [
        (199, 100.0, "good", 100.0, "A+", "excellent"),
        (200, 100.0, "acceptable", 100.0, "A+", "excellent"),
        (500, 50.0, "acceptable", 82.5, "B", "good"),
        (750, 25.0, "poor", 73.8, "C", "fair"),
        (1_000, 0.0, "poor", 65.0, "D", "poor"),
        (1_001, 0.0, "critical", 65.0, "D", "critical"),
    ],
)
def test_bounce_rate_bands_and_ramp(
    bounced: int, points: float, band: str, overall: float, grade: str, status: str
) -> None:
    result = score(totals(bounced=bounced))
    assert component(result, "bounce") == (bounced / 100, points, band)
    assert (result.overall_score, result.reputation_grade, result.status) == (overall, grade, status)
    assert len(result.recommendations) == (band != "good")


@pytest.mark.parametrize(
    ("complaints", "points", "band", "overall", "grade", "status"),
    [
        (9, 100.0, "good", 100.0, "A+", "excellent"),
        (10, 100.0, "acceptable", 100.0, "A+", "excellent"),
        (30, 75.0, "acceptable", 91.3, "A", "excellent"),
        (50, 50.0, "acceptable", 82.5, "B", "good"),
        (100, 0.0, "poor", 65.0, "D", "poor"),
        (101, 0.0, "critical", 65.0, "D", "critical"),
    ],
)
def test_complaint_rate_bands_and_ramp(
    complaints: int, points: float, band: str, overall: float, grade: str, status: str
) -> None:
    result = score(totals(complaints=complaints))
    assert component(result, "complaint") == (complaints / 100, points, band)
    assert (result.overall_score, result.reputation_grade, result.status) == (overall, grade, status)


@pytest.mark.parametrize(
    ("overall", "grade", "status"),
    [
        (100.0, "A+", "excellent"), (95.0, "A+", "excellent"), (94.9, "A", "excellent"),
        (90.0, "A", "excellent"), (89.9, "B+", "good"), (85.0, "B+", "good"), (84.9, "B", "good"),
        (80.0, "B", "good"), (79.9, "C+", "fair"), (75.0, "C+", "fair"), (74.9, "C", "fair"),
        (70.0, "C", "fair"), (69.9, "D", "poor"), (60.0, "D", "poor"), (59.9, "F", "critical"),
        (0.0, "F", "critical"),
    ],
)  # fmt: skip
def test_grade_boundaries(overall: float, grade: str, status: str) -> None:
    assert grade_for(overall) == (grade, status)


@pytest.mark.parametrize(
    ("bounce_rate", "unique_opens", "overall", "grade", "status"),
    [
        (0.0, 2_000, 95.0, "A+", "excellent"),
        (0.0, 1_980, 94.9, "A", "excellent"),
        (10.0, 2_000, 60.0, "D", "poor"),
        (10.0, 1_980, 59.9, "F", "critical"),
    ],
)
def test_grade_boundaries_through_the_formula(
    bounce_rate: float, unique_opens: int, overall: float, grade: str, status: str
) -> None:
    result = score(totals(bounce_rate=bounce_rate, unique_opens=unique_opens))
    assert (result.overall_score, result.reputation_grade, result.status) == (overall, grade, status)


def test_critical_bounce_overrides_a_passing_score() -> None:
    result = score(totals(bounce_rate=12.5))
    assert (result.overall_score, result.reputation_grade, result.status) == (65.0, "D", "critical")
    assert result.summary == "Critical: bounce rate 12.5% is above 10%, where sending may be paused."


def test_critical_bounce_and_complaints_are_both_named() -> None:
    result = score(totals(bounce_rate=10.5, complaint_rate=1.5))
    assert (result.overall_score, result.reputation_grade, result.status) == (30.0, "F", "critical")
    assert result.summary == (
        "Critical: bounce rate 10.5% is above 10%, where sending may be paused and "
        "complaint rate 1.5% is above 1%, where the account may be suspended."
    )


def test_recommendations_only_for_weak_components_in_rule_order() -> None:
    result = score(totals(unique_clicks=100, bounced=500))
    assert [c.name for c in result.components if c.band != "good"] == ["bounce", "clicks"]
    assert result.recommendations == (
        "Bounce rate is 5.0% (acceptable): remove hard-bounced and invalid addresses and validate "
        "lists before sending, to get it under 2.0%.",
        "Click rate is 1.0% (poor): give each email one clear call to action and target content to "
        "each segment, to get it at least 3.0%.",
    )
    weakest = "the weakest area is bounce (bounce rate 5.0%)"
    assert result.summary == f"Health is fair at 78.3/100 (grade C+); {weakest}."


def test_delivery_falls_back_to_sent_minus_bounced_and_failed_while_nothing_is_delivered() -> None:
    result = score(totals(delivered=0, bounced=150, failed=100, unique_opens=2_500, unique_clicks=300))
    assert component(result, "delivery") == (97.5, 91.67, "acceptable")
    assert result.rates["delivery_rate"] == 97.5
    assert component(result, "opens") == (25.0, 100.0, "good")
    assert result.overall_score == 98.8  # 100 - 15 x (100 - 91.67) / 100 = 98.75, half up


def test_human_opens_cap_unique_opens_so_scanner_opens_do_not_count() -> None:
    result = score(totals(human_opens=1_500))
    assert component(result, "opens") == (15.0, 25.0, "poor")
    assert result.rates["open_rate"] == 30.0  # the shown rate stays the §7 figure
    assert (result.overall_score, result.reputation_grade) == (92.5, "A")
    assert len(result.recommendations) == 1


def test_every_component_is_shown_and_weights_sum_to_100() -> None:
    result = score(totals())
    assert [(c.name, c.weight) for c in result.components] == [
        ("bounce", 35), ("complaint", 35), ("delivery", 15), ("opens", 10), ("clicks", 5),
    ]  # fmt: skip


def test_no_sends_raises_no_data() -> None:
    with pytest.raises(NoData, match="no data yet, send some emails first") as caught:
        score(totals(sent=0, delivered=0, unique_opens=0, unique_clicks=0))
    assert (caught.value.status, caught.value.code) == (404, "no_data")


def test_a_recorded_score_reads_back_equal_through_json() -> None:
    import json

    result = score(totals(unique_clicks=100, bounced=500, human_opens=1_500))
    assert HealthScore.from_record(json.loads(json.dumps(result.record()))) == result


def test_last_calculated_is_utc_with_z() -> None:
    from datetime import timedelta
    from datetime import timezone

    berlin = datetime(2025, 1, 2, 4, 4, 5, tzinfo=timezone(timedelta(hours=1)))
    assert score(totals()).to_dict(berlin)["health_score"]["last_calculated"] == "2025-01-02T03:04:05Z"
