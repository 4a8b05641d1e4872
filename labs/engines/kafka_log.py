"""One replica's partition log: segments of records, truncation, retention and compaction.

A record is a JSON-ready list [offset, key, value, timestamp_ms, rid]: `rid` is the engine-wide
identity of the produced record (a retry reuses it; it stands in for the producer id and
sequence number the idempotent producer sends), `value` None is a tombstone. A log is {"segs": [segment...], "leo": log end offset, "lso": log start offset};
a segment is {"base", "recs", "bytes", "first_ts", "max_ts"}. Segment rolling depends only on
the records appended (size and record timestamps, as in Kafka), so replicas holding the same
records have the same segments.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Any

__all__ = [
    "RECORD_BYTES",
    "OFF",
    "KEY",
    "VAL",
    "TS",
    "RID",
    "new_log",
    "append",
    "read",
    "truncate_to",
    "advance_start",
    "apply_retention",
    "compact",
    "record_at",
    "size_bytes",
    "tail",
    "pack_copy",
    "unpack_copy",
]

RECORD_BYTES = 100  # every record weighs the same in the lab: 100 bytes on disk
OFF, KEY, VAL, TS, RID = range(5)

Log = dict[str, Any]


def new_log(start: int = 0) -> Log:
    return {"segs": [], "leo": start, "lso": start}


def _new_seg(rec: list) -> dict[str, Any]:
    return {"base": rec[OFF], "recs": [], "bytes": 0, "first_ts": rec[TS], "max_ts": rec[TS]}


def append(log: Log, rec: list, segment_bytes: int, segment_ms: int) -> None:
    """Append one record (its offset must be log["leo"]); roll the segment when full or old."""
    segs = log["segs"]
    seg = segs[-1] if segs else None
    if (
        seg is None
        or seg["bytes"] + RECORD_BYTES > segment_bytes
        or rec[TS] - seg["first_ts"] >= segment_ms
    ):
        seg = _new_seg(rec)
        segs.append(seg)
    seg["recs"].append(rec)
    seg["bytes"] += RECORD_BYTES
    seg["max_ts"] = max(seg["max_ts"], rec[TS])
    log["leo"] = rec[OFF] + 1


def _seg_index(segs: list, offset: int) -> int:
    """Index of the segment that holds `offset` (or the first after it)."""
    lo, hi = 0, len(segs)
    while lo < hi:
        mid = (lo + hi) // 2
        if segs[mid]["base"] <= offset:
            lo = mid + 1
        else:
            hi = mid
    return max(0, lo - 1)


def read(log: Log, start: int, end: int, limit: int) -> list[list]:
    """Up to `limit` records with start <= offset < end (compaction leaves offset gaps)."""
    out: list[list] = []
    segs = log["segs"]
    if not segs or start >= end:
        return out
    i = _seg_index(segs, start)
    while i < len(segs) and len(out) < limit:
        recs = segs[i]["recs"]
        j = bisect_left([r[OFF] for r in recs], start) if recs and recs[0][OFF] < start else 0
        for r in recs[j:]:
            if r[OFF] >= end or len(out) >= limit:
                return out
            out.append(r)
        i += 1
    return out


def record_at(log: Log, offset: int) -> list | None:
    recs = read(log, offset, offset + 1, 1)
    return recs[0] if recs else None


def tail(log: Log, n: int) -> list[list]:
    """The last n records (for the visualiser)."""
    out: list[list] = []
    for seg in reversed(log["segs"]):
        need = n - len(out)
        if need <= 0:
            break
        out[:0] = seg["recs"][-need:]
    return out


def truncate_to(log: Log, offset: int) -> None:
    """Drop every record at or above `offset` (a follower reconciling with a new leader)."""
    if offset >= log["leo"]:
        return
    segs = log["segs"]
    while segs and segs[-1]["base"] >= offset and len(segs) > 1:
        segs.pop()
    if segs:
        seg = segs[-1]
        seg["recs"] = [r for r in seg["recs"] if r[OFF] < offset]
        seg["bytes"] = RECORD_BYTES * len(seg["recs"])
        if not seg["recs"]:
            segs.pop()
    log["leo"] = max(offset, log["lso"])


def advance_start(log: Log, offset: int) -> int:
    """Move the log start offset up to `offset`, deleting whole segments below it."""
    if offset <= log["lso"]:
        return 0
    segs = log["segs"]
    deleted = 0
    while len(segs) > 1 and segs[1]["base"] <= offset:
        segs.pop(0)
        deleted += 1
    if segs and not segs[0]["recs"]:
        segs.pop(0)
    log["lso"] = min(offset, log["leo"])
    return deleted


def size_bytes(log: Log) -> int:
    return sum(s["bytes"] for s in log["segs"])


def apply_retention(log: Log, retention_ms: int, retention_bytes: int, hw: int, now: int) -> int:
    """Kafka's deleteOldSegments: delete whole closed segments, oldest first, that are past
    retention.ms (by their largest timestamp) or that keep the log above retention.bytes; never
    the active segment and never a segment holding records at or above the high watermark.
    Returns the number of segments deleted (the log start offset moves to the next base)."""
    segs = log["segs"]
    deleted = 0
    size = size_bytes(log)
    while len(segs) > 1:
        seg, nxt = segs[0], segs[1]
        if nxt["base"] > hw:
            break
        too_old = retention_ms >= 0 and now - seg["max_ts"] > retention_ms
        too_big = retention_bytes >= 0 and size - seg["bytes"] >= retention_bytes
        if not (too_old or too_big):
            break
        size -= seg["bytes"]
        segs.pop(0)
        log["lso"] = nxt["base"]
        deleted += 1
    return deleted


def compact(log: Log, hw: int, now: int, delete_retention_ms: int) -> tuple[int, int, list[int]]:
    """The log cleaner, simplified to one pass over the closed segments below the high
    watermark: keep only the newest record per key (newest anywhere in the log), and drop
    tombstones older than delete.retention.ms. Returns (records removed, tombstones removed,
    removed rids)."""
    segs = log["segs"]
    if len(segs) < 2:
        return 0, 0, []
    latest: dict[Any, int] = {}
    for seg in segs:
        for r in seg["recs"]:
            latest[r[KEY]] = r[OFF]
    removed = tombstones = 0
    rids: list[int] = []
    for seg in segs[:-1]:
        if seg["recs"] and seg["recs"][-1][OFF] >= hw:
            break
        kept = []
        for r in seg["recs"]:
            superseded = r[KEY] is not None and latest.get(r[KEY]) != r[OFF]
            expired_tomb = r[VAL] is None and now - r[TS] > delete_retention_ms
            if superseded or expired_tomb:
                removed += 1
                tombstones += 1 if (r[VAL] is None and not superseded) else 0
                rids.append(r[RID])
            else:
                kept.append(r)
        if len(kept) != len(seg["recs"]):
            seg["recs"] = kept
            seg["bytes"] = RECORD_BYTES * len(kept)
    # Empty cleaned segments are merged away; the base offset of the next one stays valid.
    first = segs[0]["base"]
    log["segs"] = [s for s in segs[:-1] if s["recs"]] + [segs[-1]]
    if log["segs"] and log["segs"][0]["base"] != first:
        log["segs"][0]["base"] = first
    return removed, tombstones, rids


def _copy_of(source: Log, first_base: int, leo: int, lso: int) -> Log:
    """The log a follower holds when it has exactly `source`'s records below `leo`, from the
    segment starting at `first_base` on (segment metadata taken from the source)."""
    segs = []
    for seg in source["segs"]:
        if seg["base"] < first_base:
            continue
        recs = [r for r in seg["recs"] if r[OFF] < leo]
        if not recs:
            continue
        full = len(recs) == len(seg["recs"])
        segs.append(
            {
                "base": seg["base"],
                "recs": recs,
                "bytes": RECORD_BYTES * len(recs),
                "first_ts": seg["first_ts"],
                "max_ts": seg["max_ts"] if full else max(r[TS] for r in recs),
            }
        )
    return {"segs": segs, "leo": leo, "lso": lso}


def pack_copy(log: Log, source: Log) -> dict[str, Any] | None:
    """A short form of `log` when it is a plain copy of `source` (checkpoints store each
    record once per partition); None when it is not exactly that."""
    first = log["segs"][0]["base"] if log["segs"] else log["leo"]
    if _copy_of(source, first, log["leo"], log["lso"]) != log:
        return None
    return {"copy_of_leader": True, "first_base": first, "leo": log["leo"], "lso": log["lso"]}


def unpack_copy(packed: dict[str, Any], source: Log) -> Log:
    return _copy_of(source, packed["first_base"], packed["leo"], packed["lso"])
