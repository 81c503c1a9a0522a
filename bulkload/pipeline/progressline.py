"""The live progress line on a terminal: bar, percent and a labelled ETA always; secondary
counters only as far as the width allows (they go first when it is short).

The bar measures records *settled* (ingested + rejected + skipped) against the records the
input holds. Until the input is read to its end that total is an estimate: the records read
so far, scaled by the bytes still to read. Without a byte total (standard input) there is no
bar and no ETA, only counters.
"""

from __future__ import annotations

from typing import NamedTuple

MIN_BAR_CHARS = 10
MAX_BAR_CHARS = 30
_SEPARATOR = " · "


class ProgressSnapshot(NamedTuple):
    """What the line shows, read off the live counters."""

    records_read: int
    records_ingested: int
    records_rejected: int
    records_skipped: int
    bytes_read: int
    bytes_total: int | None
    in_flight: int
    retries: int
    elapsed_s: float
    # settled records already at the start (a resumed run): not part of this run's rate
    settled_at_start: int = 0

    @property
    def settled(self) -> int:
        return self.records_ingested + self.records_rejected + self.records_skipped

    def estimated_total(self) -> int | None:
        """Records the input holds: exact once it is read, else scaled from bytes."""
        if self.bytes_total is None:
            return None
        if self.bytes_read >= self.bytes_total:
            return self.records_read
        if self.bytes_read <= 0 or self.records_read <= 0:
            return None
        return max(self.records_read, round(self.records_read * self.bytes_total / self.bytes_read))

    def fraction(self) -> float | None:
        total = self.estimated_total()
        if total is None:
            return None
        if total == 0:
            return 1.0
        return min(1.0, self.settled / total)

    def eta_s(self) -> float | None:
        total = self.estimated_total()
        done_now = self.settled - self.settled_at_start
        if total is None or done_now <= 0 or self.elapsed_s <= 0:
            return None
        return max(0.0, total - self.settled) / (done_now / self.elapsed_s)


def format_duration(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def render_line(snapshot: ProgressSnapshot, width: int) -> str:
    """One line of at most ``width`` characters (a terminal's width; 80 is the classic)."""
    fraction = snapshot.fraction()
    eta = snapshot.eta_s()
    rate = (
        (snapshot.settled - snapshot.settled_at_start) / snapshot.elapsed_s
        if snapshot.elapsed_s > 0
        else 0.0
    )
    secondary = [
        f"{snapshot.records_ingested:,} ingested",
        f"{snapshot.records_rejected:,} rejected",
        f"{rate:,.0f} rec/s",
        f"in flight {snapshot.in_flight}",
        f"retries {snapshot.retries}",
    ]
    if snapshot.records_skipped:
        secondary.insert(2, f"{snapshot.records_skipped:,} skipped")
    if fraction is None:
        primary = f"{snapshot.records_read:,} read"
        return _fit(primary, secondary, width)
    eta_text = "ETA " + (format_duration(eta) if eta is not None else "--")
    fixed = f" {fraction * 100:3.0f}%{_SEPARATOR}{eta_text}"
    room_for_bar = width - len(fixed) - 2  # the brackets
    bar_chars = max(MIN_BAR_CHARS, min(MAX_BAR_CHARS, room_for_bar))
    filled = round(fraction * bar_chars)
    primary = "[" + "#" * filled + "-" * (bar_chars - filled) + "]" + fixed
    return _fit(primary, secondary, width)


def _fit(primary: str, secondary: list[str], width: int) -> str:
    """``primary`` and as many of the secondary counters, in order, as fit in ``width``."""
    line = primary
    for part in secondary:
        candidate = line + _SEPARATOR + part
        if len(candidate) > width:
            break
        line = candidate
    return line[:width]
