"""Cron: users write 5 fields (Vertex AI's form); KFP gets 6 with seconds first."""

from __future__ import annotations

import pytest

from pipelines.cloud import CloudError, to_kfp_cron, validate_cron


@pytest.mark.parametrize(
    ("five", "six"),
    [
        ("0 * * * *", "0 0 * * * *"),  # hourly at minute 0 — NOT "0 * * * *" given to KFP, which is every minute
        ("0 6 * * 1", "0 0 6 * * 1"),  # Mondays 06:00
        ("*/15 * * * *", "0 */15 * * * *"),  # every 15 minutes
        ("30 2 1 * *", "0 30 2 1 * *"),  # 02:30 on the 1st of each month
        ("0 6 * JAN-MAR MON-FRI", "0 0 6 * JAN-MAR MON-FRI"),
    ],
)
def test_kfp_cron_prefixes_a_zero_seconds_field(five: str, six: str) -> None:
    converted = to_kfp_cron(five)
    assert converted == six
    seconds, *rest = converted.split()
    assert seconds == "0" and rest == five.split()  # every user field keeps its meaning, shifted right by one


def test_the_classic_mistake_is_not_made() -> None:
    """KFP reads fields as 'second minute hour …': the hourly 5-field cron must not reach KFP unchanged."""
    hourly = "0 * * * *"
    converted = to_kfp_cron(hourly)
    assert converted != hourly
    assert converted.split()[1] == "0"  # minute 0 …
    assert converted.split()[2] == "*"  # … of every hour


def test_validate_normalises_spaces() -> None:
    assert validate_cron("  0   6 * *  1 ") == "0 6 * * 1"


def test_six_fields_are_refused_with_a_hint() -> None:
    with pytest.raises(CloudError, match=r"got 6.*seconds field is added for KFP"):
        to_kfp_cron("0 0 6 * * 1")


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("60 * * * *", "minute"),
        ("0 24 * * *", "hour"),
        ("0 0 0 * *", "day-of-month"),
        ("0 0 32 * *", "day-of-month"),
        ("0 0 * 13 *", "month"),
        ("0 0 * * 7", "day-of-week"),  # KFP's robfig/cron knows 0-6 only
        ("*/0 * * * *", "minute"),
        ("1- * * * *", "minute"),
        ("x * * * *", "minute"),
        ("0 0 * FOO *", "month"),
    ],
)
def test_out_of_range_fields_are_named(expression: str, field: str) -> None:
    with pytest.raises(CloudError, match=f"{field} field"):
        validate_cron(expression)


@pytest.mark.parametrize("expression", ["", "* * * *", "* * * * * * *"])
def test_wrong_field_counts_are_refused(expression: str) -> None:
    with pytest.raises(CloudError, match="expected 5 fields"):
        validate_cron(expression)
