"""Cron: users write 5 fields (Vertex AI's form); KFP gets 6 with seconds first. Vertex AI also takes a
``TZ=``/``CRON_TZ=`` time-zone prefix; KFP recurring runs are UTC and refuse it."""

from __future__ import annotations

import pytest

from pipelines.cloud import CloudError, from_kfp_cron, split_cron_timezone, to_kfp_cron, validate_cron


@pytest.mark.parametrize(
    ("five", "six"),
    [
        # Hourly at minute 0. KFP reads 'second minute hour …': given "0 * * * *" unchanged, it runs every minute.
        ("0 * * * *", "0 0 * * * *"),
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


@pytest.mark.parametrize(
    ("six", "five"),
    [
        ("0 0 6 * * 1", "0 6 * * 1"),
        ("0 */15 * * * *", "*/15 * * * *"),
        ("30 0 6 * * 1", "30 0 6 * * 1"),  # second 30: no 5-field form, shown as KFP has it
        ("0 6 * * 1", "0 6 * * 1"),  # already 5 fields
    ],
)
def test_kfp_cron_is_shown_in_the_five_field_form(six: str, five: str) -> None:
    assert from_kfp_cron(six) == five


@pytest.mark.parametrize(
    ("expression", "normalised"),
    [
        ("TZ=Europe/Berlin 0 6 * * 1", "TZ=Europe/Berlin 0 6 * * 1"),
        ("CRON_TZ=America/New_York  1 * * * *", "CRON_TZ=America/New_York 1 * * * *"),
        ("  tz=Asia/Tokyo 0 9 * * MON-FRI", "TZ=Asia/Tokyo 0 9 * * MON-FRI"),
        ("TZ=UTC 0 0 1 * *", "TZ=UTC 0 0 1 * *"),
    ],
)
def test_vertex_time_zone_prefix_is_accepted(expression: str, normalised: str) -> None:
    assert validate_cron(expression) == normalised
    prefix, rest = split_cron_timezone(normalised)
    assert prefix == normalised.split()[0] and rest.split() == normalised.split()[1:]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("TZ=Europe/Atlantis 0 6 * * 1", r"'Europe/Atlantis' is not a time zone"),
        ("CRON_TZ=../etc/passwd 0 6 * * 1", r"is not a time zone"),
        ("TZ= 0 6 * * 1", r"'' is not a time zone"),
        ("TZ=Europe/Berlin 0 6 * *", "expected 5 fields"),
        ("TZ=Europe/Berlin 0 0 6 * * 1", r"got 6.*seconds field"),
        ("TZ=Europe/Berlin 0 25 * * *", "hour field"),
    ],
)
def test_bad_time_zone_prefixes_are_refused(expression: str, message: str) -> None:
    with pytest.raises(CloudError, match=message):
        validate_cron(expression)


@pytest.mark.parametrize("expression", ["TZ=Europe/Berlin 0 6 * * 1", "CRON_TZ=UTC 0 * * * *"])
def test_kfp_refuses_a_time_zone_prefix(expression: str) -> None:
    with pytest.raises(CloudError, match=r"KFP recurring runs are UTC.*give the time in UTC"):
        to_kfp_cron(expression)


@pytest.mark.parametrize(
    ("expression", "field"),
    [
        ("5-1 * * * *", "minute"),
        ("0 23-2 * * *", "hour"),
        ("0 0 31-1 * *", "day-of-month"),
        ("0 0 * DEC-JAN *", "month"),
        ("0 0 * * FRI-MON", "day-of-week"),
        ("0 0 * * 5-1/2", "day-of-week"),
        ("0,10-5 * * * *", "minute"),
    ],
)
def test_reversed_ranges_are_refused(expression: str, field: str) -> None:
    with pytest.raises(CloudError, match=f"{field} field .*the range runs backwards"):
        validate_cron(expression)


@pytest.mark.parametrize(
    "expression", ["1-5 * * * *", "0 0 * * MON-FRI", "0 0 * JAN-DEC *", "0 0 * * 0-6", "5-5 * * * *"]
)
def test_forward_ranges_are_accepted(expression: str) -> None:
    assert validate_cron(expression) == expression


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
