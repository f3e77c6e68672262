"""Reader of dlib's binary serialization format (``dlib/serialize.h``, ``dlib/cuda/tensor.h``).

The format, as written by dlib's ``serialize()`` overloads:

* integers: one control byte (bit 7 set = negative, low 4 bits = number of magnitude bytes, 0..8), then the
  magnitude, little-endian; zero is ``01 00``;
* floating point: two integers, mantissa then exponent, value = mantissa * 2**exponent; the exponents
  32000, 32001 and 32002 stand for +inf, -inf and NaN (dlib's ``float_details``);
* strings: an integer length, then the bytes;
* bools: the ASCII byte ``'1'`` or ``'0'``;
* tensors: version 2 then num_samples, k, nr, nc as integers, then raw little-endian float32 in NCHW order;
  alias tensors (shape only): version 1 then four dimensions.

Every error names the byte offset where it happened, so a truncated or foreign file is easy to diagnose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_INF, _NINF, _NAN = 32000, 32001, 32002


class DlibFormatError(ValueError):
    """The bytes do not follow dlib's serialization format; the message names the offset."""


@dataclass(frozen=True)
class TensorRecord:
    """A serialized dlib tensor.

    Attributes:
        shape: (num_samples, k, nr, nc), dlib's NCHW dimensions.
        data: float32 array of that shape for a data tensor (version 2); None for a shape-only alias
            tensor (version 1).
    """

    shape: tuple[int, int, int, int]
    data: np.ndarray | None


class DlibReader:
    """Sequential reader over the bytes of a dlib-serialized object.

    Args:
        data: the whole serialized file.
        source: a name for error messages (usually the file path).
    """

    def __init__(self, data: bytes, source: str = "<bytes>") -> None:
        self._data = memoryview(data)
        self._source = source
        self.offset = 0

    @property
    def at_end(self) -> bool:
        """True when every byte has been consumed."""
        return self.offset >= len(self._data)

    def error(self, message: str, offset: int | None = None) -> DlibFormatError:
        """Build a :class:`DlibFormatError` naming the source and the byte offset."""
        at = self.offset if offset is None else offset
        return DlibFormatError(f"{self._source}: {message} at byte offset {at}")

    def _take(self, n: int, what: str) -> memoryview:
        start = self.offset
        if n < 0 or start + n > len(self._data):
            raise self.error(f"truncated input: {what} needs {n} bytes, {len(self._data) - start} left", start)
        self.offset = start + n
        return self._data[start : start + n]

    def read_int(self) -> int:
        """Read one integer (any of dlib's signed or unsigned integer types)."""
        start = self.offset
        control = self._take(1, "integer control byte")[0]
        size = control & 0x0F
        if size > 8 or control & 0x70:
            raise self.error(f"invalid integer control byte 0x{control:02x}", start)
        magnitude = int.from_bytes(self._take(size, "integer"), "little")
        return -magnitude if control & 0x80 else magnitude

    def read_float(self) -> float:
        """Read one float/double written as mantissa and exponent (dlib's ``float_details``)."""
        start = self.offset
        mantissa = self.read_int()
        exponent = self.read_int()
        if exponent == _INF:
            return math.inf
        if exponent == _NINF:
            return -math.inf
        if exponent == _NAN:
            return math.nan
        try:
            return math.ldexp(mantissa, exponent)
        except OverflowError:
            raise self.error(f"float out of range ({mantissa} * 2^{exponent})", start) from None

    def read_string(self, max_length: int = 1 << 16) -> str:
        """Read a length-prefixed string (at most ``max_length`` bytes, to fail fast on garbage)."""
        start = self.offset
        length = self.read_int()
        if not 0 <= length <= max_length:
            raise self.error(f"implausible string length {length}", start)
        raw = self._take(length, "string")
        try:
            return bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise self.error("string is not UTF-8", start) from None

    def read_bool(self) -> bool:
        """Read a bool, stored as the ASCII character '1' or '0'."""
        start = self.offset
        byte = self._take(1, "bool")[0]
        if byte not in (0x30, 0x31):
            raise self.error(f"invalid bool byte 0x{byte:02x}", start)
        return byte == 0x31

    def read_tensor(self) -> TensorRecord:
        """Read a data tensor (version 2) or a shape-only alias tensor (version 1)."""
        start = self.offset
        version = self.read_int()
        if version not in (1, 2):
            raise self.error(f"unknown tensor version {version}", start)
        shape = tuple(self.read_int() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.error(f"negative tensor dimension {shape}", start)
        if version == 1:
            return TensorRecord(shape, None)  # type: ignore[arg-type]
        count = math.prod(shape)
        raw = self._take(4 * count, f"tensor of shape {shape}")
        data = np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)
        return TensorRecord(shape, data)  # type: ignore[arg-type]
