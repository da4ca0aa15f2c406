"""Bounded integer options for argparse, light enough to import at start-up."""

from __future__ import annotations

import argparse
from collections.abc import Callable

MAX_SCHEDULES = 1_000_000
"""``--explore`` as the ``explore`` statement bounds it."""
MAX_DEPTH = 64
"""``--depth`` as the ``explore ... depth`` statement bounds it."""
MAX_SEED = (1 << 63) - 1


def bounded(flag: str, lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an integer in lo..hi, else a usage error naming ``flag``."""

    def parse(text: str) -> int:
        try:
            n = int(text, 0)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not lo <= n <= hi:
            raise argparse.ArgumentTypeError(f"{n} is out of range {lo}..{hi:,}")
        return n

    parse.__name__ = flag  # argparse names the type in its message
    return parse


__all__ = ["MAX_DEPTH", "MAX_SCHEDULES", "MAX_SEED", "bounded"]
