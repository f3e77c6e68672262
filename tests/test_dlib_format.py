"""The dlib serialization reader on hand-made byte strings."""

import math

import numpy as np
import pytest

from faceid_desktop.dlib_format import DlibFormatError, DlibReader


def enc_int(value: int) -> bytes:
    """Encode like dlib's pack_int: control byte (sign bit, byte count), then little-endian magnitude."""
    magnitude = abs(value)
    body = magnitude.to_bytes(max(1, (magnitude.bit_length() + 7) // 8), "little")
    return bytes([len(body) | (0x80 if value < 0 else 0)]) + body


def test_integers():
    cases = [0, 1, 127, 255, 256, -1, -300, 2**40 + 7, 2**63 - 1, -(2**63 - 1)]
    reader = DlibReader(b"".join(enc_int(v) for v in cases))
    assert [reader.read_int() for _ in cases] == cases
    assert reader.at_end
    assert enc_int(0) == b"\x01\x00"  # the facts the reader relies on
    assert DlibReader(b"\x81\x05").read_int() == -5


def test_floats_including_specials():
    data = b"".join(
        enc_int(m) + enc_int(e)
        for m, e in [(10737418, -28), (-3, -1), (0, 11), (1, 32000), (1, 32001), (1, 32002), (16, -4)]
    )
    reader = DlibReader(data)
    assert reader.read_float() == pytest.approx(0.04, abs=1e-9)
    assert reader.read_float() == -1.5
    assert reader.read_float() == 0.0
    assert reader.read_float() == math.inf
    assert reader.read_float() == -math.inf
    assert math.isnan(reader.read_float())
    assert reader.read_float() == 1.0


def test_strings_and_bools():
    reader = DlibReader(enc_int(5) + b"con_4" + b"10")
    assert reader.read_string() == "con_4"
    assert reader.read_bool() is True
    assert reader.read_bool() is False


def test_tensors():
    values = np.arange(6, dtype="<f4")
    data = enc_int(2) + b"".join(enc_int(d) for d in (1, 2, 3, 1)) + values.tobytes()
    data += enc_int(1) + b"".join(enc_int(d) for d in (32, 3, 7, 7))
    reader = DlibReader(data)
    tensor = reader.read_tensor()
    assert tensor.shape == (1, 2, 3, 1)
    assert tensor.data.dtype == np.float32
    np.testing.assert_array_equal(tensor.data.reshape(-1), values)
    alias = reader.read_tensor()
    assert alias.shape == (32, 3, 7, 7) and alias.data is None


@pytest.mark.parametrize(
    "data, reader_call, message",
    [
        (b"", "read_int", "byte offset 0"),
        (b"\x03\x01\x02", "read_int", "truncated"),
        (b"\x0c\x00", "read_int", "invalid integer control byte"),
        (enc_int(10) + b"abc", "read_string", "truncated"),
        (b"x", "read_bool", "invalid bool"),
        (enc_int(5) + enc_int(1) * 4, "read_tensor", "unknown tensor version 5"),
        (enc_int(2) + enc_int(1) + enc_int(2) + enc_int(1) + enc_int(1) + b"\x00" * 5, "read_tensor", "truncated"),
        (enc_int(1) + enc_int(5000), "read_float", "float out of range"),
    ],
)
def test_bad_input_names_the_offset(data, reader_call, message):
    reader = DlibReader(data, "model.dat")
    with pytest.raises(DlibFormatError) as error:
        getattr(reader, reader_call)()
    assert message in str(error.value)
    assert "model.dat" in str(error.value) and "byte offset" in str(error.value)


def test_truncated_tensor_reports_where_data_starts():
    header = enc_int(2) + enc_int(1) + enc_int(2) + enc_int(1) + enc_int(1)
    reader = DlibReader(b"\x00\x00" + header + b"\x00" * 7)
    reader.offset = 2
    with pytest.raises(DlibFormatError, match=f"byte offset {2 + len(header)}"):
        reader.read_tensor()
