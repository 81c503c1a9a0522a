"""Counters of a running load, and the summary it ends with.

The summary checks its own books: every record of the input is ingested, rejected or
skipped (done by an earlier run), and whatever is not is pending for the next run.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class LoadStats:
    """Mutable counters shared by the stages; plain ints (updated under the GIL)."""

    records_read: int = 0
    records_ingested: int = 0
    records_rejected: int = 0
    records_skipped: int = 0
    batches_sent: int = 0
    batches_skipped: int = 0
    batches_planned: int = 0
    requests: int = 0
    retries: int = 0
    in_doubt_requests: int = 0
    throttled: int = 0
    bytes_read: int = 0
    bytes_total: int | None = None
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)

    def count_reject(self, reason: str) -> None:
        self.records_rejected += 1
        self.rejected_by_reason[reason_category(reason)] += 1


_VALUE_TAIL = re.compile(r"(, got|: got| got ).*$")


def reason_category(reason: str) -> str:
    """Group rejections by what was wrong, not by the offending value."""
    return _VALUE_TAIL.sub("", reason)[:120]


def _percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass(frozen=True, slots=True)
class LoadSummary:
    table: str
    records_read: int
    records_ingested: int
    records_rejected: int
    records_skipped: int
    records_pending: int
    rejected_by_reason: dict[str, int]
    batches_sent: int
    batches_skipped: int
    batches_planned: int
    requests: int
    retries: int
    throttled: int
    in_doubt_requests: int
    elapsed_s: float
    records_per_s: float
    bytes_read: int
    latency_p50_s: float | None
    latency_p95_s: float | None
    latency_p99_s: float | None
    dry_run: bool
    finished: bool
    stopped_reason: str | None
    checkpoint_path: str | None
    rejects_path: str | None

    @property
    def balanced(self) -> bool:
        return self.records_read == (
            self.records_ingested
            + self.records_rejected
            + self.records_skipped
            + self.records_pending
        )

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["balanced"] = self.balanced
        return out

    @classmethod
    def from_stats(
        cls,
        stats: LoadStats,
        *,
        table: str,
        elapsed_s: float,
        dry_run: bool,
        finished: bool,
        stopped_reason: str | None,
        checkpoint_path: str | None,
        rejects_path: str | None,
    ) -> LoadSummary:
        latencies = sorted(stats.latencies_s)
        accounted = stats.records_ingested + stats.records_rejected + stats.records_skipped
        processed_this_run = stats.records_ingested + stats.records_rejected
        return cls(
            table=table,
            records_read=stats.records_read,
            records_ingested=stats.records_ingested,
            records_rejected=stats.records_rejected,
            records_skipped=stats.records_skipped,
            records_pending=max(0, stats.records_read - accounted),
            rejected_by_reason=dict(stats.rejected_by_reason.most_common()),
            batches_sent=stats.batches_sent,
            batches_skipped=stats.batches_skipped,
            batches_planned=stats.batches_planned,
            requests=stats.requests,
            retries=stats.retries,
            throttled=stats.throttled,
            in_doubt_requests=stats.in_doubt_requests,
            elapsed_s=round(elapsed_s, 3),
            records_per_s=round(processed_this_run / elapsed_s, 1) if elapsed_s > 0 else 0.0,
            bytes_read=stats.bytes_read,
            latency_p50_s=_percentile(latencies, 0.50),
            latency_p95_s=_percentile(latencies, 0.95),
            latency_p99_s=_percentile(latencies, 0.99),
            dry_run=dry_run,
            finished=finished,
            stopped_reason=stopped_reason,
            checkpoint_path=checkpoint_path,
            rejects_path=rejects_path,
        )

    def render(self) -> str:
        """The human summary printed at the end of a run."""
        lines = []
        verb = "would ingest" if self.dry_run else "ingested"
        lines.append(
            f"table {self.table}: {self.records_read:,} records read, "
            f"{self.records_ingested:,} {verb}, {self.records_rejected:,} rejected, "
            f"{self.records_skipped:,} skipped (done in an earlier run)"
        )
        if self.records_pending:
            lines.append(
                f"  {self.records_pending:,} records not yet loaded: rerun the same command to continue"
            )
        for reason, count in self.rejected_by_reason.items():
            lines.append(f"  rejected {count:,}: {reason}")
        batches = "planned" if self.dry_run else "sent"
        lines.append(
            f"  batches: {self.batches_sent if not self.dry_run else self.batches_planned:,} {batches}, "
            f"{self.batches_skipped:,} skipped; requests {self.requests:,}, retries {self.retries:,}"
            + (f" ({self.throttled:,} after a 429)" if self.throttled else "")
            + (
                f", {self.in_doubt_requests:,} in doubt (answer lost; may be duplicated)"
                if self.in_doubt_requests
                else ""
            )
        )
        if self.latency_p50_s is not None:
            lines.append(
                "  request latency p50/p95/p99: "
                + "/".join(
                    f"{(v or 0) * 1000:.0f}"
                    for v in (self.latency_p50_s, self.latency_p95_s, self.latency_p99_s)
                )
                + " ms"
            )
        lines.append(f"  elapsed {self.elapsed_s:.1f} s, {self.records_per_s:,.0f} records/s")
        check = "read = ingested + rejected + skipped" + (
            " + pending" if self.records_pending else ""
        )
        lines.append(f"  check: {check}: {'ok' if self.balanced else 'MISMATCH'}")
        if self.rejects_path and self.records_rejected:
            lines.append(f"  rejected records are in {self.rejects_path}")
        if self.stopped_reason:
            lines.append(f"  stopped: {self.stopped_reason}")
        return "\n".join(lines)
