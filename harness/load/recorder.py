"""The recorder of one run: every attempt record into ``attempts.jsonl``, exactly once, plus
the live counts the progress line reads."""

from __future__ import annotations

from collections import Counter, deque
from pathlib import Path

from harness.rundir.jsonl import JsonlWriter
from harness.rundir.records import AttemptRecord

#: Handshake times the progress line's percentile looks back over (a sliding window).
RECENT_HANDSHAKES = 500


class RunRecorder:
    """Writes attempt records (a :class:`harness.load.user.RecordSink`) and counts verdicts.

    The file is closed only when the run has ended (its users were stopped first); a
    record that still arrives after that is counted in :attr:`dropped`, never raised.
    """

    def __init__(self, path: Path) -> None:
        self.writer = JsonlWriter(path)
        self.verdicts: Counter[str] = Counter()
        self.total = 0
        #: the last :data:`RECENT_HANDSHAKES` handshake times (ms)
        self.recent_handshakes: deque[float] = deque(maxlen=RECENT_HANDSHAKES)

    def add(self, record: AttemptRecord) -> None:
        self.writer.write_line(record.to_json())
        if self.writer.closed:
            return
        self.total += 1
        self.verdicts[record.verdict] += 1
        if record.handshake_ms is not None:
            self.recent_handshakes.append(record.handshake_ms)

    @property
    def dropped(self) -> int:
        """Records that arrived after the run ended (and were not written)."""
        return self.writer.dropped

    def close(self) -> None:
        self.writer.close()
