"""Counters of a running load, and the summary it ends with.

The summary checks its own books: every record read is ingested, unconfirmed, rejected or
skipped (done by an earlier run), and whatever is not is pending for the next run. What
was never read is not guessed at in records: the summary says how much of the input, in
bytes, is still to be read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bulkload.pipeline.v2target import V2Plan

from bulkload.pipeline.reasons import reason_kind, record_kinds, top_kinds


@dataclass(slots=True)
class LoadStats:
    """The live counters of a run, all written in the event loop, each by one stage only
    (the progress display only reads them):

    - the producer's hand-over: records_read, bytes_read, batches_planned, batches_skipped,
      records_skipped (copied from what the reading thread counted);
    - the committer: records_ingested, records_unconfirmed, records_rejected and its
      reasons, batches_sent, requests, in_doubt_requests, latencies_s;
    - the Sender's event callback: retries, throttled.
    """

    records_read: int = 0
    records_ingested: int = 0
    records_unconfirmed: int = 0
    records_rejected: int = 0
    records_skipped: int = 0
    batches_sent: int = 0
    batches_skipped: int = 0
    batches_planned: int = 0
    requests: int = 0
    retries: int = 0
    in_doubt_requests: int = 0
    unconfirmed_requests: int = 0
    throttled: int = 0
    # Peak v2: failures a 200 reported without naming a row (counted in records_rejected)
    records_unattributed: int = 0
    bytes_read: int = 0
    bytes_total: int | None = None
    files_read: int = 0  # inputs read to their end in this run
    rejected_by_reason: Counter[str] = field(default_factory=Counter)
    latencies_s: list[float] = field(default_factory=list)
    records_coerced: int = 0  # records sent with a value --coerce converted
    fields_dropped: Counter[str] = field(default_factory=Counter)  # --ignore-unknown-columns
    records_would_ingest: int = 0  # a dry run: records in the batches it would have sent

    def count_reject(self, reason: str, problems: Sequence[str] | None = None) -> None:
        """One more rejected record, counted under the kind of each of its problems."""
        self.records_rejected += 1
        self.rejected_by_reason.update(record_kinds(reason, problems))


_SHOWN_DROPPED = 10


def reason_category(reason: str) -> str:
    """Group rejections by what was wrong, not by the offending value."""
    return reason_kind(reason)


def _percentile(sorted_values: list[float], fraction: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass(frozen=True, slots=True)
class Abandoned:
    """Requests still in flight when the run ended without their answer: the drain time ran
    out, or the run failed. They may have been stored; the rerun sends them again."""

    batches: tuple[int, ...] = ()  # their batch numbers
    records: int = 0

    @property
    def requests(self) -> int:
        return len(self.batches)


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
    # a 200 counted fewer records than were sent: maybe not stored (never resent)
    records_unconfirmed: int = 0
    unconfirmed_requests: int = 0
    requests_abandoned: int = 0  # in flight when the run ended: maybe stored, sent again
    records_abandoned: int = 0
    abandoned_batches: tuple[int, ...] = ()
    bytes_total: int | None = None  # of the inputs (None: not known, e.g. standard input)
    input_fully_read: bool = False
    error: str | None = None  # why the run failed, if it did
    files_read: int = 0
    # Peak v2 (None/False/0 for a v1 table load)
    solution: str | None = None
    table_name: str | None = None  # the object's table (``table`` is the object's name)
    operation: str | None = None  # UPSERT or APPEND
    validate_only: bool = False  # dryRun on the server: nothing was written
    records_unattributed: int = 0  # failures naming no row (among records_rejected)
    records_coerced: int = 0  # records sent with a value --coerce converted
    # Unknown field -> how many records had it dropped (--ignore-unknown-columns).
    fields_dropped: dict[str, int] = field(default_factory=dict)
    # A finished load rerun: what its earlier runs refused (listed in the rejects file).
    records_rejected_earlier: int = 0
    records_would_ingest: int = 0  # a dry run: what it would have sent (nothing is ingested)

    @property
    def api_version(self) -> str:
        return "v1" if self.solution is None else "v2"

    @property
    def balanced(self) -> bool:
        return self.records_read == (
            self.records_ingested
            + self.records_unconfirmed
            + self.records_rejected
            + self.records_skipped
            + self.records_pending
            + self.records_would_ingest
        )

    @property
    def bytes_unread(self) -> int | None:
        """Input bytes this run never got to (None when the size of the inputs is unknown)."""
        if self.input_fully_read:
            return 0
        if self.bytes_total is None:
            return None
        return max(0, self.bytes_total - self.bytes_read)

    @property
    def records_unread_estimate(self) -> int | None:
        """Records in the part of the input not read, estimated from the bytes per record
        read so far (None when nothing was read or the input's size is unknown)."""
        unread = self.bytes_unread
        if unread is None or not self.bytes_read or not self.records_read:
            return None if unread else 0
        return round(unread * self.records_read / self.bytes_read)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["abandoned_batches"] = list(self.abandoned_batches)
        out["bytes_unread"] = self.bytes_unread
        out["records_unread_estimate"] = self.records_unread_estimate
        out["balanced"] = self.balanced
        out["api_version"] = self.api_version
        return out

    @classmethod
    def before_start(
        cls,
        *,
        table: str,
        error: str | None,
        elapsed_s: float,
        dry_run: bool,
        bytes_total: int | None,
        checkpoint_path: str | None,
        rejects_path: str | None,
    ) -> LoadSummary:
        """The summary of a run that ended before reading anything (e.g. a 401 on the
        table fetch): nothing done, the whole input left to do."""
        stats = LoadStats(bytes_total=bytes_total)
        return cls.from_stats(
            stats,
            table=table,
            elapsed_s=elapsed_s,
            dry_run=dry_run,
            finished=False,
            stopped_reason=None,
            checkpoint_path=checkpoint_path,
            rejects_path=rejects_path,
            error=error,
        )

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
        abandoned: Abandoned = Abandoned(),
        input_fully_read: bool = False,
        error: str | None = None,
        v2: V2Plan | None = None,
        records_rejected_earlier: int = 0,
    ) -> LoadSummary:
        latencies = sorted(stats.latencies_s)
        accounted = (
            stats.records_ingested
            + stats.records_unconfirmed
            + stats.records_rejected
            + stats.records_skipped
            + stats.records_would_ingest
        )
        processed_this_run = (
            stats.records_ingested + stats.records_unconfirmed + stats.records_rejected
        )
        return cls(
            table=table,
            records_read=stats.records_read,
            records_ingested=stats.records_ingested,
            records_rejected=stats.records_rejected,
            records_skipped=stats.records_skipped,
            records_pending=max(0, stats.records_read - accounted),
            rejected_by_reason=top_kinds(stats.rejected_by_reason),
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
            records_unconfirmed=stats.records_unconfirmed,
            unconfirmed_requests=stats.unconfirmed_requests,
            requests_abandoned=abandoned.requests,
            records_abandoned=abandoned.records,
            abandoned_batches=abandoned.batches,
            bytes_total=stats.bytes_total,
            input_fully_read=input_fully_read,
            error=error,
            files_read=stats.files_read,
            solution=v2.target.solution if v2 is not None else None,
            table_name=v2.table_name if v2 is not None else None,
            operation=v2.operation.value if v2 is not None else None,
            validate_only=v2.target.validate_only if v2 is not None else False,
            records_unattributed=stats.records_unattributed,
            records_coerced=stats.records_coerced,
            fields_dropped=dict(stats.fields_dropped.most_common()),
            records_rejected_earlier=records_rejected_earlier,
            records_would_ingest=stats.records_would_ingest,
        )

    @property
    def warnings(self) -> list[str]:
        """What the user must know about the outcome, beyond the counts."""
        out = []
        if self.records_unconfirmed:
            out.append(
                f"{self.records_unconfirmed:,} records unconfirmed: {self.unconfirmed_requests:,} "
                "answers said 200 but counted fewer records than were sent, so some of them may "
                "not be stored; they are not sent again (that could store the others twice): "
                f"check table {self.table} for them"
            )
        if self.records_unattributed:
            out.append(
                f"{self.records_unattributed:,} rows failed on the server without the answer "
                "saying which: they are counted as rejected and listed (the server's text, no "
                "record) in the rejects file; the other rows of those requests were ingested"
            )
        if self.requests_abandoned:
            out.append(
                f"{self.requests_abandoned:,} requests ({self.records_abandoned:,} records, "
                f"batches {_batch_list(self.abandoned_batches)}) were still in flight when the "
                "run ended, with no answer: they may have been stored, and the rerun sends "
                "them again (possible duplicates)"
            )
        return out

    def render(self) -> str:
        """The human summary printed at the end of a run."""
        lines = []
        ingested = (
            f"{self.records_would_ingest:,} would ingest"
            if self.dry_run
            else f"{self.records_ingested:,} ingested"
        )
        files = (
            f" from {self.files_read:,} file{'' if self.files_read == 1 else 's'}"
            if self.files_read
            else ""
        )
        target = f"table {self.table}"
        if self.solution is not None and self.validate_only:
            ingested = (
                f"{self.records_ingested:,} validated (dry run on the server: nothing written)"
            )
        if self.solution is not None:
            target = (
                f"object {self.table} (table {self.table_name}) of solution {self.solution}, "
                f"{self.operation}"
            )
        lines.append(
            f"{target}: {self.records_read:,} records read{files}, "
            f"{ingested}, {self.records_rejected:,} rejected, "
            f"{self.records_skipped:,} skipped (done in an earlier run)"
        )
        if self.records_unconfirmed:
            lines.append(
                f"  {self.records_unconfirmed:,} unconfirmed (a 200 counted fewer than were sent)"
            )
        if self.records_unattributed:
            lines.append(
                f"  {self.records_unattributed:,} of the rejected failed on the server without "
                "naming their row (the server's text is in the rejects file)"
            )
        if self.operation == "UPSERT" and not self.validate_only:
            lines.append(
                "  UPSERT by primary key: a batch replayed after a crash overwrites its rows "
                "rather than duplicating them"
            )
        left = self._left_to_do()
        if left and not self.dry_run:  # a dry run sends nothing: rerunning it would not help
            lines.append(f"  not yet loaded: {left}: rerun the same command to continue")
        if self.records_rejected_earlier:
            lines.append(
                f"  {self.records_rejected_earlier:,} records were rejected by an earlier run "
                "of this finished load"
            )
        for reason, count in self.rejected_by_reason.items():
            lines.append(f"  rejected {count:,}: {reason}")
        if self.records_coerced:
            lines.append(f"  coerced: {self.records_coerced:,} records had a value converted")
        if self.fields_dropped:
            shown = ", ".join(
                f"{name!r} in {count:,} records"
                for name, count in list(self.fields_dropped.items())[:_SHOWN_DROPPED]
            )
            more = len(self.fields_dropped) - _SHOWN_DROPPED
            lines.append(
                f"  dropped unknown fields (--ignore-unknown-columns): {shown}"
                + (f" and {more:,} more fields" if more > 0 else "")
            )
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
        check = (
            ("read = would ingest" if self.dry_run else "read = ingested")
            + (" + unconfirmed" if self.records_unconfirmed else "")
            + " + rejected + skipped"
            + (" + pending" if self.records_pending else "")
        )
        lines.append(f"  check: {check}: {'ok' if self.balanced else 'MISMATCH'}")
        if self.rejects_path and (self.records_rejected or self.records_rejected_earlier):
            lines.append(f"  rejected records are in {self.rejects_path}")
        if self.checkpoint_path:
            lines.append(f"  checkpoint: {self.checkpoint_path}")
        if self.stopped_reason:
            lines.append(f"  stopped: {self.stopped_reason}")
        return "\n".join(lines)

    def _left_to_do(self) -> str:
        parts = []
        if self.records_pending:
            parts.append(f"{self.records_pending:,} records read and not loaded")
        unread = self.bytes_unread
        if unread is None and not self.finished:
            parts.append("the rest of the input (its size is not known)")
        elif unread:
            total = self.bytes_total or 0
            estimate = self.records_unread_estimate
            about = f" (~{estimate:,} records)" if estimate else ""
            parts.append(
                f"{_megabytes(unread)} of the input's {_megabytes(total)} not read yet{about}"
            )
        return ", and ".join(parts)


def _megabytes(count: int) -> str:
    return f"{count / 1e6:,.1f} MB" if count >= 100_000 else f"{count:,} bytes"


def _batch_list(batches: tuple[int, ...], shown: int = 10) -> str:
    text = ", ".join(str(seq) for seq in batches[:shown])
    return text + (f", ... ({len(batches)} in all)" if len(batches) > shown else "")
