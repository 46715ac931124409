"""Handing freed memory back to the operating system while threshold calibration frees GB-sized tensors.

Under tcmalloc (which ``make`` preloads: torch runs 1.5–3× faster with it on a CPU), freed spans stay with the
process for reuse, so the resident memory of VGG11's calibration at :math:`T_c = 100` peaks about a gigabyte
above what is alive at any moment. :func:`returning_freed_memory` switches tcmalloc's
``tcmalloc.aggressive_memory_decommit`` on for the duration of a block and restores it afterwards; without
tcmalloc it does nothing. No number changes: only where freed memory goes.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from contextlib import contextmanager

_PROPERTY = b"tcmalloc.aggressive_memory_decommit"


def _tcmalloc() -> ctypes.CDLL | None:
    process = ctypes.CDLL(None)
    return process if hasattr(process, "MallocExtension_SetNumericProperty") else None


@contextmanager
def returning_freed_memory() -> Iterator[None]:
    """Within the block, tcmalloc returns freed memory to the OS at once (no effect under another allocator)."""
    tcmalloc = _tcmalloc()
    previous = ctypes.c_size_t(0)
    if tcmalloc is None or not tcmalloc.MallocExtension_GetNumericProperty(_PROPERTY, ctypes.byref(previous)):
        yield
        return
    tcmalloc.MallocExtension_SetNumericProperty(_PROPERTY, ctypes.c_size_t(1))
    try:
        yield
    finally:
        tcmalloc.MallocExtension_SetNumericProperty(_PROPERTY, previous)
