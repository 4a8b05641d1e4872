"""Kafka's default producer partitioner, in pure Python.

- `murmur2` is `org.apache.kafka.common.utils.Utils.murmur2`: MurmurHash2, seed 0x9747b28c,
  m = 0x5bd1e995, r = 24, little-endian 4-byte blocks, computed with Java `int` overflow and
  returned as a signed 32-bit int (Java's `>>>` is an unsigned shift on the 32-bit pattern).
- `partition_for_key` is `BuiltInPartitioner.partitionForKey`: `toPositive(murmur2(key)) % n`
  where `toPositive(x) = x & 0x7fffffff` (not abs(): abs(Integer.MIN_VALUE) is negative).
- Records without a key use sticky partitioning (KIP-480, reworked by KIP-794 in 3.3): the
  producer keeps sending to one partition until batch.size bytes went to it, then picks
  another partition at random among those with a live leader.
"""

from __future__ import annotations

from typing import Any

__all__ = ["murmur2", "partition_for_key", "sticky_partition", "to_positive"]

_MASK = 0xFFFFFFFF
_SEED = 0x9747B28C
_M = 0x5BD1E995
_R = 24


def _signed(x: int) -> int:
    x &= _MASK
    return x - 0x100000000 if x & 0x80000000 else x


def murmur2(data: bytes) -> int:
    """Utils.murmur2: the 32-bit MurmurHash2 Kafka uses for keys, as a signed Java int."""
    length = len(data)
    h = (_SEED ^ length) & _MASK
    length4 = length // 4
    for i in range(length4):
        i4 = i * 4
        k = data[i4] | (data[i4 + 1] << 8) | (data[i4 + 2] << 16) | (data[i4 + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> _R
        k = (k * _M) & _MASK
        h = (h * _M) & _MASK
        h ^= k
    # The Java switch falls through: 3 remaining bytes also do the 2- and 1-byte steps.
    rest = length % 4
    base = length & ~3
    if rest == 3:
        h ^= data[base + 2] << 16
    if rest >= 2:
        h ^= data[base + 1] << 8
    if rest >= 1:
        h ^= data[base]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return _signed(h)


def to_positive(number: int) -> int:
    """Utils.toPositive: clear the sign bit (maps Integer.MIN_VALUE to 0, unlike abs)."""
    return number & 0x7FFFFFFF


def partition_for_key(key: bytes, num_partitions: int) -> int:
    """BuiltInPartitioner.partitionForKey: the partition a keyed record goes to."""
    if num_partitions <= 0:
        raise ValueError("num_partitions must be positive")
    return to_positive(murmur2(key)) % num_partitions


def sticky_partition(
    sticky: dict[str, Any], available: list[int], num_partitions: int, rng: Any, batch: int
) -> int:
    """Partition for a keyless record (BuiltInPartitioner, KIP-794). `sticky` is the producer's
    state {"partition": int | None, "count": int}: the producer sticks to one partition until
    `batch` records (batch.size) went to it, then picks another one at random among partitions
    with a live leader (all partitions if none has one)."""
    current = sticky.get("partition")
    if (
        current is None
        or current >= num_partitions
        or (available and current not in available)
        or sticky.get("count", 0) >= batch
    ):
        choices = available or list(range(num_partitions))
        # Kafka may pick the same partition again; the lab moves on so the switch is visible.
        if current is not None and len(choices) > 1 and current in choices:
            choices = [p for p in choices if p != current]
        current = choices[rng.randrange(len(choices))]
        sticky["partition"] = current
        sticky["count"] = 0
    sticky["count"] = sticky.get("count", 0) + 1
    return current
