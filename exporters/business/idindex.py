"""The remembered event ids, in about 16 to 24 bytes each instead of ~140 in a dict of strings.

An id is remembered as a 64-bit fingerprint (its string hash, keyed per process, so a client
cannot aim collisions; two different ids share one with a chance of about 1 in 10^12 at 5M ids,
which would acknowledge the second as a duplicate) in open-addressing tables of 8-byte slots
(256 of them by the fingerprint's top bits; linear probing, at most 75 % full, deletion by
backward shift). The fingerprints of each
commit are kept in an array too, oldest first, so pruning forgets whole commits. Fingerprints
are recomputed from the ids on disk at every start.
"""

from __future__ import annotations

import collections
from array import array
from collections.abc import Iterable

_MASK64 = (1 << 64) - 1
# The ids are split by the fingerprint's top bits into tables that each double on their own, and
# each at its own load (40 % to 75 %), so the doublings spread over the whole growth instead of
# falling together: a doubling rehashes 1/256 of the ids in Python (~2 ms at 3M ids), where one
# table held every ingest answer for ~0.45 s (at 3M; ~1 s at 5M) while it doubled.
_SHARD_BITS = 8
_SHARDS = 1 << _SHARD_BITS
_SHARD_SHIFT = 64 - _SHARD_BITS
_LOADS = [0.4 + 0.35 * shard / (_SHARDS - 1) for shard in range(_SHARDS)]
_FIRST_SIZE = 64  # slots per table at start: 128 KiB in all


def fingerprint(event_id: str) -> int:
    return (hash(event_id) & _MASK64) or 1  # 0 marks an empty slot


class IdIndex:
    def __init__(self) -> None:
        self._tables = [array("Q", bytes(8 * _FIRST_SIZE)) for _ in range(_SHARDS)]
        self._masks = [_FIRST_SIZE - 1] * _SHARDS
        self._counts = [0] * _SHARDS
        self._limits = [int(load * _FIRST_SIZE) for load in _LOADS]
        self._count = 0
        # (commit time, the fingerprints it added), oldest first
        self.commits: collections.deque[tuple[float, array[int]]] = collections.deque()

    def __len__(self) -> int:
        return self._count

    def nbytes(self) -> int:
        """Bytes of the tables and the per-commit arrays (the index's whole payload)."""
        arrays = sum(a.itemsize * len(a) for _, a in self.commits)
        return sum(t.itemsize * len(t) for t in self._tables) + arrays

    def __contains__(self, event_id: str) -> bool:
        return self._find(fingerprint(event_id)) is not None

    def _find(self, fp: int) -> tuple[int, int] | None:
        """(table, slot) holding fp, or None."""
        shard = fp >> _SHARD_SHIFT
        slots, mask = self._tables[shard], self._masks[shard]
        i = fp & mask
        while True:
            held = slots[i]
            if held == fp:
                return shard, i
            if held == 0:
                return None
            i = (i + 1) & mask

    def add_commit(self, seen: float, event_ids: Iterable[str]) -> None:
        """Remember ids first seen in one commit (ids not already remembered)."""
        added, _ = self.claim(list(event_ids))
        self.record(seen, added)

    def claim(self, event_ids: list[str]) -> tuple[array[int], list[int]]:
        """Check and remember in one probe per id: the fingerprints newly taken, and the positions
        in `event_ids` of ids already remembered (or repeated earlier in the list).

        The writer claims a batch's ids before its commit, so a duplicate costs no second lookup;
        what it claimed is either `record`ed once the commit is durable or `release`d."""
        m = _MASK64
        fps = [hash(i) & m or 1 for i in event_ids]  # 0 marks an empty slot
        taken: array[int] = array("Q")
        seen_before: list[int] = []
        tables, masks, counts, limits, take = self._tables, self._masks, self._counts, self._limits, taken.append
        for position, fp in enumerate(fps):
            shard = fp >> _SHARD_SHIFT
            slots, mask = tables[shard], masks[shard]
            i = fp & mask
            held = slots[i]
            while held:
                if held == fp:
                    seen_before.append(position)
                    break
                i = (i + 1) & mask
                held = slots[i]
            else:
                slots[i] = fp
                take(fp)
                counts[shard] += 1
                if counts[shard] > limits[shard]:
                    self._grow(shard)
        self._count += len(taken)
        return taken, seen_before

    def record(self, seen: float, fingerprints: array[int]) -> None:
        """Claimed fingerprints, now durable: kept as one commit, forgotten together when it is pruned."""
        if fingerprints:
            self.commits.append((seen, fingerprints))

    def release(self, fingerprints: array[int]) -> None:
        """Undo a claim whose batch was refused or whose commit failed."""
        for fp in fingerprints:
            self._remove(fp)

    def forget_oldest(self) -> float:
        """Forget the oldest commit's ids; its time."""
        seen, fps = self.commits.popleft()
        for fp in fps:
            self._remove(fp)
        return seen

    def _remove(self, fp: int) -> None:
        found = self._find(fp)
        if found is None:
            return
        shard, i = found
        slots, mask = self._tables[shard], self._masks[shard]
        # Backward shift: move later entries of the probe run into the hole when their home allows.
        j = i
        while True:
            j = (j + 1) & mask
            held = slots[j]
            if held == 0:
                break
            home = held & mask
            if (i <= j and (home <= i or home > j)) or (i > j and home <= i and home > j):
                slots[i] = held
                i = j
        slots[i] = 0
        self._counts[shard] -= 1
        self._count -= 1

    def _grow(self, shard: int) -> None:
        old = self._tables[shard]
        size = 2 * len(old)
        slots = array("Q", bytes(8 * size))
        mask = size - 1
        for fp in old:
            if fp:
                i = fp & mask
                while slots[i] != 0:
                    i = (i + 1) & mask
                slots[i] = fp
        self._tables[shard], self._masks[shard], self._limits[shard] = slots, mask, int(_LOADS[shard] * size)
