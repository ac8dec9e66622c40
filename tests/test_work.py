"""The Atto work rules against known vectors and rejections (docs/spec.md), and against hashlib."""

from __future__ import annotations

import hashlib
import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from work import (
    MAX_THRESHOLD,
    Network,
    WorkError,
    check_not_future,
    difficulty,
    expected_hashes,
    format_target,
    format_work,
    is_valid,
    parse_network,
    parse_target,
    parse_threshold,
    parse_timestamp,
    parse_work,
    threshold,
)

ZERO = bytes(32)


def ts(text: str) -> datetime:
    return parse_timestamp(text)


def test_blake2b_8_sanity_check() -> None:
    # docs/spec.md, The hash: an 8-byte digest, not a truncated BLAKE2b-512.
    assert hashlib.blake2b(b"atto", digest_size=8).hexdigest() == "41f1a46dc16757d6"


@pytest.mark.parametrize(
    ("work", "network", "timestamp", "expected_difficulty", "valid"),
    [
        ("576887B000000000", "LIVE", "2024-01-01T00:00:00Z", 5029785218, True),
        ("0582489800000000", "LIVE", "2028-01-01T00:00:00Z", 934083415, True),
        ("A7E077E02E3E759F", "LIVE", "2028-01-01T00:00:00Z", 26600049800, False),
        ("2D7E000000000000", "LOCAL", "2024-01-01T00:00:00Z", 220765033974306, True),
        ("2D7E000000000000", "LOCAL", "2027-12-31T23:59:59Z", 220765033974306, True),
    ],
)
def test_spec_vectors(work, network, timestamp, expected_difficulty, valid) -> None:
    raw = parse_work(work)
    assert difficulty(raw, ZERO) == expected_difficulty
    assert is_valid(raw, ZERO, threshold(network, ts(timestamp))) is valid


def test_local_vector_is_the_first_valid_nonce_from_zero() -> None:
    limit = threshold(Network.LOCAL, ts("2026-06-01T00:00:00Z"))
    first = next(n for n in range(1 << 20) if is_valid(n.to_bytes(8, "little"), ZERO, limit))
    assert format_work(first.to_bytes(8, "little")) == "2D7E000000000000"


def test_pre_2024_timestamp_is_refused() -> None:
    with pytest.raises(WorkError, match="before 2024"):
        threshold("LIVE", ts("2023-12-31T23:59:59Z"))


@pytest.mark.parametrize("name", ["UNKNOWN", "live", "Live", "", "MAIN", None, 1])
def test_unknown_network_is_refused(name) -> None:
    with pytest.raises(WorkError, match="unknown network"):
        parse_network(name)


@pytest.mark.parametrize(
    ("year", "divisor"), [(2024, 1), (2025, 1), (2026, 2), (2027, 2), (2028, 4), (2029, 5),
                          (2030, 8), (2036, 64)],
)
def test_threshold_table(year, divisor) -> None:
    when = datetime(year, 6, 1, tzinfo=UTC)
    for network, factor in [("LIVE", 1), ("BETA", 10), ("DEV", 100), ("LOCAL", 100000)]:
        assert threshold(network, when) == 8589934591 * factor // divisor


def test_threshold_table_spot_values() -> None:
    assert threshold("LOCAL", ts("2026-01-01T00:00:00Z")) == 429496729550000
    assert threshold("LOCAL", ts("2030-01-01T00:00:00Z")) == 107374182387500
    assert threshold("DEV", ts("2036-01-01T00:00:00Z")) == 13421772798
    assert threshold("BETA", ts("2029-07-01T00:00:00Z")) == 17179869182


def test_threshold_uses_the_utc_year() -> None:
    # 2025-12-31T23:30-01:00 is 2026-01-01T00:30Z: the 2026 divisor applies.
    assert threshold("LIVE", ts("2025-12-31T23:30:00-01:00")) == 4294967295


def test_expected_hashes() -> None:
    assert expected_hashes(threshold("LOCAL", ts("2026-01-01T00:00:00Z"))) == pytest.approx(
        42949.67, rel=1e-3
    )


def test_difficulty_matches_hashlib_on_random_inputs() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        work, target = rng.randbytes(8), rng.randbytes(32)
        digest = hashlib.blake2b(work + target, digest_size=8).digest()
        assert difficulty(work, target) == int.from_bytes(digest, "little")


def test_is_valid_boundary() -> None:
    work = parse_work("576887B000000000")
    assert is_valid(work, ZERO, 5029785218)
    assert not is_valid(work, ZERO, 5029785217)


def test_hex_parsing_accepts_both_cases_and_formats_upper() -> None:
    target = parse_target("89eb0d6a8a691dae2cd15ed0369931ce0a949ecafa5c3f93f8121833646e15c3")
    assert format_target(target) == (
        "89EB0D6A8A691DAE2CD15ED0369931CE0A949ECAFA5C3F93F8121833646E15C3"
    )
    assert format_work(parse_work("a7e077e02e3e759f")) == "A7E077E02E3E759F"


@pytest.mark.parametrize(
    "value", ["", "00", "0" * 63, "0" * 65, "G" * 64, " " + "0" * 63, "0x" + "0" * 62,
              "０" * 64, None, 12, b"0" * 64],
)
def test_bad_targets_are_refused(value) -> None:
    with pytest.raises(WorkError):
        parse_target(value)


@pytest.mark.parametrize("value", ["", "0" * 15, "0" * 17, "Z" * 16, "-" + "0" * 15, None, 7])
def test_bad_works_are_refused(value) -> None:
    with pytest.raises(WorkError):
        parse_work(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1), ("1", 1), (MAX_THRESHOLD, MAX_THRESHOLD), (str(MAX_THRESHOLD), MAX_THRESHOLD),
     ("34359738367000", 34359738367000), (429496729550000, 429496729550000)],
)
def test_thresholds_are_parsed_from_numbers_and_strings(value, expected) -> None:
    assert parse_threshold(value) == expected


@pytest.mark.parametrize(
    "value", [0, "0", -1, "-1", MAX_THRESHOLD + 1, str(MAX_THRESHOLD + 1), "1e9", 1.5, 1e9,
              True, False, "", " 5", "0x10", "١٢", None, [1], "9" * 21],
)
def test_bad_thresholds_are_refused(value) -> None:
    with pytest.raises(WorkError):
        parse_threshold(value)


def test_timestamps_iso_and_epoch_ms_agree() -> None:
    assert parse_timestamp("2026-05-13T00:00:00Z") == parse_timestamp(1778630400000)
    assert parse_timestamp("2026-05-13T02:00:00+02:00") == parse_timestamp("1778630400000")


@pytest.mark.parametrize(
    "value", ["2026-05-13T00:00:00", "yesterday", "", -1, 10**20, True, None, 1.5, "2026-13-01Z",
              "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"],  # outside UTC's range
)
def test_bad_timestamps_are_refused(value) -> None:
    with pytest.raises(WorkError):
        parse_timestamp(value)


@settings(max_examples=500, deadline=None)
@given(st.one_of(
    st.text(), st.integers(), st.none(), st.booleans(), st.floats(),
    st.datetimes(timezones=st.timezones()).map(datetime.isoformat),
    st.builds(lambda dt, minutes: dt.isoformat() + f"{'+-'[minutes < 0]}{abs(minutes) // 60:02}:"
              f"{abs(minutes) % 60:02}", st.datetimes(), st.integers(-1439, 1439)),
))
def test_any_timestamp_gives_an_aware_utc_value_or_a_work_error(value) -> None:
    try:
        parsed = parse_timestamp(value)
    except WorkError:
        return
    assert parsed.tzinfo is not None and parsed.utcoffset() == timedelta(0)


def test_future_timestamps_beyond_the_skew_are_refused() -> None:
    now = datetime(2026, 11, 28, tzinfo=UTC)
    check_not_future(now + timedelta(seconds=60), 60, now=now)
    with pytest.raises(WorkError, match="future"):
        check_not_future(now + timedelta(seconds=61), 60, now=now)
