"""Timestamps from outside are normalised to the one stored format (UTC, `...Z`, ms), so text
order is time order; absurd years are refused."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from store.clock import EARLIEST, LATEST, iso, normalise_iso


@pytest.mark.parametrize(
    ("given_text", "stored"),
    [
        ("2026-11-23T09:00:00Z", "2026-11-23T09:00:00.000Z"),
        ("2026-11-23T09:00:00.123456Z", "2026-11-23T09:00:00.123Z"),
        ("2026-11-23T10:00:00+01:00", "2026-11-23T09:00:00.000Z"),
        ("2026-11-23 09:00Z", "2026-11-23T09:00:00.000Z"),
        ("20261123T090000Z", "2026-11-23T09:00:00.000Z"),
        ("2026-W01-1T00:00Z", "2025-12-29T00:00:00.000Z"),
        ("2000-01-01T00:00:00Z", "2000-01-01T00:00:00.000Z"),
    ],
)
def test_iso_times_in_any_form_are_stored_in_the_one_format(given_text: str, stored: str) -> None:
    assert normalise_iso(given_text) == stored


@pytest.mark.parametrize(
    "bad",
    [
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00+01:00",
        "1999-12-31T23:59:59Z",
        "2100-01-01T00:00:00Z",
        "2000-01-01T00:30:00+01:00",  # 1999 in UTC
        "2026-11-23T09:00:00",  # no zone
        "2026-11-23",
        "noon",
        "2026-13-01T00:00:00Z",
        "\u0662\u0660\u0662\u0666-11-23T09:00:00Z",  # Arabic-Indic digits
        "2026-11-23T09:00:00Z" + " " * 60,
    ],
)
def test_absurd_or_zoneless_times_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies by cause
        normalise_iso(bad)


@given(
    st.lists(
        st.tuples(
            st.datetimes(
                min_value=datetime(2000, 1, 2),  # hypothesis takes naive bounds
                max_value=datetime(2099, 12, 30),
                timezones=st.just(UTC),
            ),
            st.integers(min_value=-14 * 60, max_value=14 * 60),
            st.sampled_from(["T", " "]),
        ),
        min_size=2,
        max_size=6,
    )
)
def test_normalised_text_sorts_in_time_order(
    moments: list[tuple[datetime, int, str]],
) -> None:
    texts = []
    for moment, offset_min, sep in moments:
        zone = timezone(timedelta(minutes=offset_min))
        texts.append(normalise_iso(moment.astimezone(zone).isoformat(sep=sep)))
    for text, (moment, _, _) in zip(texts, moments, strict=True):
        assert text == iso(moment)
        assert EARLIEST <= moment < LATEST
    by_text = sorted(range(len(texts)), key=lambda i: (texts[i], i))
    by_time = sorted(
        range(len(texts)),
        key=lambda i: (
            moments[i][0].replace(microsecond=moments[i][0].microsecond // 1000 * 1000),
            i,
        ),
    )
    assert by_text == by_time
