"""Integers beyond int64: FTL-JSON says so, rather than "expected Int, got Int"."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from ftl.runtime.encoding import DecodeError, EncodeError, decode, encode, from_json_value

OUT_OF_RANGE = r"integer out of range for Int \(64-bit\)"


@dataclass
class Counter:
    max_id: int
    by_id: dict[int, str]


@pytest.mark.parametrize(
    "wire",
    [b"9223372036854775808", b"-9223372036854775809", b"99999999999999999999999", b"1e30",
     b'"9223372036854775808"', b'"-' + b"9" * 5000 + b'"'],
)  # fmt: skip
def test_decoding_a_whole_number_beyond_int64(wire: bytes) -> None:
    with pytest.raises(DecodeError, match=f"^{OUT_OF_RANGE}$"):
        decode(wire, int)


def test_the_limits_themselves_fit() -> None:
    assert decode(b"9223372036854775807", int) == 2**63 - 1
    assert decode(b'"-9223372036854775808"', int) == -(2**63)


def test_the_message_names_the_path() -> None:
    with pytest.raises(DecodeError, match=rf"^req\.maxId: {OUT_OF_RANGE}$"):
        from_json_value({"maxId": 2**64, "byId": {}}, Counter, root="req")
    with pytest.raises(DecodeError, match=rf'^byId\["18446744073709551616"\]: {OUT_OF_RANGE}$'):
        decode(b'{"maxId": 1, "byId": {"18446744073709551616": "x"}}', Counter)


def test_other_mismatches_keep_their_message() -> None:
    with pytest.raises(DecodeError, match=r"^expected Int, got String$"):
        decode(b'"ten"', int)
    with pytest.raises(DecodeError, match=r"^expected Int, got Float$"):
        decode(b"1.5", int)


def test_encoding_a_python_int_beyond_int64() -> None:
    with pytest.raises(EncodeError, match=rf"^resp\.maxId: {OUT_OF_RANGE}$"):
        encode(Counter(max_id=2**63, by_id={}), Counter, root="resp")
    with pytest.raises(EncodeError, match=rf'^byId\["-9223372036854775809"\]: {OUT_OF_RANGE}$'):
        encode(Counter(max_id=1, by_id={-(2**63) - 1: "x"}), Counter)
