"""What exports read from the store, read once: a page builds many exports from one snapshot.

The Export page rebuilds its pairs and mapping whenever an option changes; reading 20,000
labelled items with their candidates from the database is most of that cost (seconds), and
the answer does not change until a decision, an undo, a ranking or a rename does, which
``Store.change_stamp`` tells cheaply. A ``StoreSnapshot`` answers the store calls that
``export.build_pairs`` and ``export.build_mapping`` make, each read once and then kept, and
``stamp`` says which state of the store it holds.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from typing import Any, TYPE_CHECKING

if TYPE_CHECKING:
    from affiliation_curator.curation.store import Store


class StoreSnapshot:
    """A read-only stand-in for ``Store`` in the export functions, reading each answer once."""

    def __init__(self, store: Store, batch_ids: Sequence[int] | None = None) -> None:
        self.store = store
        self.batch_ids = None if batch_ids is None else tuple(sorted(set(batch_ids)))
        self.stamp = store.change_stamp(self.batch_ids)
        self._lock = threading.Lock()  # one snapshot may serve several sessions
        self._memo: dict[tuple, Any] = {}

    def _once(self, key: tuple, read: Any) -> Any:
        with self._lock:
            if key not in self._memo:
                self._memo[key] = read()
            return self._memo[key]

    def batches(self) -> list[Any]:
        return self._once(("batches",), self.store.batches)

    def labelled_items(self, batch_ids: Sequence[int] | None = None, rule: str = "leave_out") -> Iterator[tuple[Any, list[Any]]]:
        key = ("labelled", None if batch_ids is None else tuple(batch_ids), rule)
        return iter(self._once(key, lambda: list(self.store.labelled_items(batch_ids, rule=rule))))

    def rejections(self, item_ids: Sequence[int]) -> dict[int, list[Any]]:
        ids = tuple(item_ids)
        return self._once(("rejections", ids), lambda: self.store.rejections(ids))

    def table(self, batch_id: int, rule: str = "leave_out") -> list[dict[str, Any]]:
        return self._once(("table", batch_id, rule), lambda: self.store.table(batch_id, rule=rule))

    def batch(self, batch_id: int) -> Any:
        return self._once(("batch", batch_id), lambda: self.store.batch(batch_id))

    def decisions(self, batch_id: int | None = None) -> list[dict[str, Any]]:
        return self._once(("decisions", batch_id), lambda: self.store.decisions(batch_id))

    def current(self) -> bool:
        """Whether the store still holds what this snapshot read."""
        return self.store.change_stamp(self.batch_ids) == self.stamp
