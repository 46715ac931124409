"""Per-image vectors packed into a record: an attack verdict's 2,000 booleans as a few hundred characters.

A stored verdict keeps, per test image, whether it stayed correct (``robust``), which member fooled it
(``fooled_by``) and at which query (``fooled_at``), so that two verdicts on the same images can be compared
pairedly. Written as JSON lists, those vectors were 95 % of the published store. :func:`pack` replaces every
long homogeneous list by a packed value and :func:`unpack` restores it exactly; a record written before packing
(plain lists) passes through :func:`unpack` unchanged, so both formats are read.

A packed value is a JSON object ``{"$packed": FORMAT, "n": n, "data": base64(zlib(payload)), ...}``:

* ``"bits"`` — booleans, eight to a byte, first element in the highest bit (``numpy.packbits``);
* ``"int32"`` — integers as little-endian int32 (a list outside the int32 range stays plain);
* ``"labels"`` — strings as indices into ``"labels"`` (the distinct strings in order of first appearance),
  one byte each, or two when there are more than 256 labels.

The ``config`` of a record is never packed: it is what the record's key was computed from, and it stays
readable.

Example:
    >>> record = {"n": 3, "robust": [True, False, True] * 30, "config": {"members": ["a"] * 90}}
    >>> packed = pack(record)
    >>> packed["robust"]["$packed"], packed["robust"]["n"], packed["config"] == record["config"]
    ('bits', 90, True)
    >>> unpack(packed) == record
    True
"""

from __future__ import annotations

import base64
import zlib
from typing import Any

import numpy as np

#: Lists shorter than this stay plain: packing pays off for per-image vectors, not for a config's few names.
MIN_LENGTH = 64

#: The packed formats this version reads.
FORMATS = ("bits", "int32", "labels")

#: The key that marks a packed value (a record's own keys never start with "$").
MARK = "$packed"

_INT32 = np.iinfo(np.int32)


def _encode(payload: bytes) -> str:
    return base64.b64encode(zlib.compress(payload, 9)).decode("ascii")


def _decode(data: str) -> bytes:
    return zlib.decompress(base64.b64decode(data))


def _pack_list(values: list) -> Any:
    n = len(values)
    if n < MIN_LENGTH:
        return values
    if all(type(v) is bool for v in values):
        return {MARK: "bits", "n": n, "data": _encode(np.packbits(np.array(values, dtype=bool)).tobytes())}
    if all(type(v) is int for v in values) and _INT32.min <= min(values) and max(values) <= _INT32.max:
        return {MARK: "int32", "n": n, "data": _encode(np.array(values, dtype="<i4").tobytes())}
    if all(type(v) is str for v in values):
        labels = list(dict.fromkeys(values))
        index = {label: i for i, label in enumerate(labels)}
        width = "<u1" if len(labels) <= 256 else "<u2"
        codes = np.array([index[v] for v in values], dtype=width)
        return {MARK: "labels", "n": n, "labels": labels, "data": _encode(codes.tobytes())}
    return values


def _unpack_value(value: dict) -> list:
    if value[MARK] not in FORMATS:
        raise ValueError(f"Unknown packed format {value[MARK]!r}: this record was written by a newer snnconv; "
                         "update the package to read it.")
    payload, n = _decode(value["data"]), value["n"]
    if value[MARK] == "bits":
        return np.unpackbits(np.frombuffer(payload, dtype=np.uint8), count=n).astype(bool).tolist()
    if value[MARK] == "int32":
        return np.frombuffer(payload, dtype="<i4", count=n).tolist()
    labels = value["labels"]
    width = "<u1" if len(labels) <= 256 else "<u2"
    return [labels[i] for i in np.frombuffer(payload, dtype=width, count=n).tolist()]


def pack(record: Any) -> Any:
    """``record`` with every list of at least :data:`MIN_LENGTH` booleans, int32 integers or strings packed
    (recursively, except under ``config``)."""
    if isinstance(record, dict):
        if MARK in record:  # packed already
            return record
        return {k: v if k == "config" else pack(v) for k, v in record.items()}
    if isinstance(record, list):
        packed = _pack_list(record)
        return packed if isinstance(packed, dict) else [pack(v) for v in record]
    return record


def unpack(record: Any) -> Any:
    """The inverse of :func:`pack`; plain values (and records stored before packing) are returned as they are."""
    if isinstance(record, dict):
        if MARK in record:
            return _unpack_value(record)
        return {k: v if k == "config" else unpack(v) for k, v in record.items()}
    if isinstance(record, list):
        return [unpack(v) for v in record]
    return record
