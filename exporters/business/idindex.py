"""The remembered event ids, in about 16 to 24 bytes each instead of ~140 in a dict of strings.

An id is remembered as a 64-bit fingerprint (its string hash, keyed per process, so a client
cannot aim collisions; two different ids share one with a chance of about 1 in 10^12 at 5M ids,
which would acknowledge the second as a duplicate) in an open-addressing table of 8-byte slots
(linear probing, at most 70 % full, deletion by backward shift). The fingerprints of each
commit are kept in an array too, oldest first, so pruning forgets whole commits. Fingerprints
are recomputed from the ids on disk at every start.
"""

from __future__ import annotations

import collections
from array import array
from collections.abc import Iterable

_MASK64 = (1 << 64) - 1
_MAX_LOAD = 0.7


def fingerprint(event_id: str) -> int:
    return (hash(event_id) & _MASK64) or 1  # 0 marks an empty slot


class IdIndex:
    def __init__(self) -> None:
        self._slots = array("Q", bytes(8 * 1024))
        self._mask = len(self._slots) - 1
        self._count = 0
        # (commit time, the fingerprints it added), oldest first
        self.commits: collections.deque[tuple[float, array[int]]] = collections.deque()

    def __len__(self) -> int:
        return self._count

    def nbytes(self) -> int:
        """Bytes of the table and the per-commit arrays (the index's whole payload)."""
        arrays = sum(a.itemsize * len(a) for _, a in self.commits)
        return self._slots.itemsize * len(self._slots) + arrays

    def __contains__(self, event_id: str) -> bool:
        return self._find(fingerprint(event_id)) >= 0

    def _find(self, fp: int) -> int:
        slots, mask = self._slots, self._mask
        i = fp & mask
        while True:
            held = slots[i]
            if held == fp:
                return i
            if held == 0:
                return -1
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
        if not fps:
            return taken, seen_before
        if (self._count + len(fps)) > _MAX_LOAD * len(self._slots):
            self._grow(self._count + len(fps))
        slots, mask, take = self._slots, self._mask, taken.append
        for position, fp in enumerate(fps):
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
        i = self._find(fp)
        if i < 0:
            return
        slots, mask = self._slots, self._mask
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
        self._count -= 1

    def _grow(self, needed: int) -> None:
        size = len(self._slots)
        while needed > _MAX_LOAD * size:
            size *= 2
        old = self._slots
        self._slots = array("Q", bytes(8 * size))
        self._mask = size - 1
        slots, mask = self._slots, self._mask
        for fp in old:
            if fp:
                i = fp & mask
                while slots[i] != 0:
                    i = (i + 1) & mask
                slots[i] = fp
