"""FIRST EPSS scores (CSV, gzipped at the live URL) -> `epss`.

The file opens with a comment line `#model_version:v2023.03.01,score_date:2025-02-20T00:00:00+0000`
and then `cve,epss,percentile` rows. The score date is kept per row so a report can say how
fresh the probability it prints is.
"""

from __future__ import annotations

import gzip
import io
import math
import re
from pathlib import Path
from typing import IO, Any

from customhouse.vulndb.feeds import FeedStats, Sink, is_cve

_DATE = re.compile(r"score_date:(\d{4}-\d{2}-\d{2})")


def _open(path: Path) -> IO[str]:
    raw: Any = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")
    return io.TextIOWrapper(raw, encoding="utf-8", errors="replace", newline="")


def read_epss(path: Path, source: str, sink: Sink, stats: FeedStats) -> None:
    date = ""
    header_seen = False
    try:
        with _open(path) as fh:
            for n, line in enumerate(fh, 1):
                line = line.strip()
                if not line:
                    continue
                if line.startswith("#"):
                    m = _DATE.search(line)
                    if m:
                        date = m.group(1)
                    continue
                if not header_seen and line.lower().startswith("cve,"):
                    header_seen = True
                    continue
                parts = line.split(",")
                try:
                    if len(parts) < 3 or not is_cve(parts[0]):
                        raise ValueError("not a CVE row")
                    score, pct = float(parts[1]), float(parts[2])
                    if not (0.0 <= score <= 1.0 and 0.0 <= pct <= 1.0) or math.isnan(score + pct):
                        raise ValueError("probability out of range")
                except ValueError as exc:
                    stats.skip(str(exc) if "range" in str(exc) else "not a cve,epss,percentile row", f"{path.name}:{n}")
                    continue
                sink.epss(parts[0], score, pct, date)
                stats.records += 1
    except (OSError, EOFError, gzip.BadGzipFile) as exc:
        stats.skip(f"unreadable EPSS file ({type(exc).__name__})", str(path))
