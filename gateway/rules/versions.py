"""Item identity and versions: duplicates within a message, and history against the store.

An item is identified by (partner, itemId, version). Within one message the first copy of an
(itemId, version) wins (DUPLICATE_IN_MESSAGE). Against the store, an item's latest accepted
state from the same partner decides what may follow it:

| latest accepted state   | ORIGINAL               | AMENDMENT / CANCELLATION        |
|-------------------------|------------------------|---------------------------------|
| none                    | accepted               | UNKNOWN_ITEM                    |
| ORIGINAL or AMENDMENT v | ITEM_ALREADY_ACCEPTED  | VERSION_STALE unless version > v|
| CANCELLATION            | ITEM_ALREADY_ACCEPTED  | ITEM_CANCELLED                  |

Items accepted earlier in the same message count as history for later ones, so an ORIGINAL and
its AMENDMENT may travel together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace

from gateway.domain.findings import Finding, error
from gateway.domain.journal import ItemState
from gateway.domain.messages import ItemFunction, ItemOutcome, with_changes
from gateway.rules.items import item_path

ItemPath = Callable[[int], str]


def mark_duplicates(
    items: Sequence[ItemOutcome], *, path_of: ItemPath = item_path
) -> Sequence[ItemOutcome]:
    """DUPLICATE_IN_MESSAGE on every copy of an (itemId, version) after its first.

    A flagged copy loses its Declaration, like any item the format stage rejects. Gives a
    tuple, or PackedOutcomes for packed `items`.
    """
    seen: set[tuple[str, int]] = set()
    changes: dict[int, ItemOutcome] = {}
    for position, item in enumerate(items):
        key = (item.item_id, item.version)
        if item.item_id and key in seen:
            duplicate = error(
                "DUPLICATE_IN_MESSAGE",
                f"item {item.item_id} version {item.version} appears earlier in this message",
                f"{path_of(item.index)}/itemId",
                item.line,
            )
            changes[position] = replace(
                item, findings=(*item.findings, duplicate), declaration=None
            )
        seen.add(key)
    return with_changes(items, changes)


def history_item_ids(items: Sequence[ItemOutcome]) -> set[str]:
    """The itemIds whose stored state `apply_history_rules` needs: those still accepted."""
    return {item.item_id for item in items if item.accepted}


def apply_history_rules(
    items: Sequence[ItemOutcome],
    states: Mapping[str, ItemState],
    *,
    path_of: ItemPath = item_path,
) -> Sequence[ItemOutcome]:
    """Check each still-accepted item against the latest accepted state of its itemId.

    `states` holds the stored state of (at least) `history_item_ids(items)` from this partner.
    Items already rejected pass through unchanged. Gives a tuple, or PackedOutcomes for
    packed `items`.
    """
    latest: dict[str, ItemState] = {}  # what this message's items accepted so far, over states
    shared: dict[tuple[int, ItemFunction], ItemState] = {}  # one ItemState per distinct value
    changes: dict[int, ItemOutcome] = {}
    for position, item in enumerate(items):
        if not item.accepted:
            continue
        item_id = item.item_id
        state = latest[item_id] if item_id in latest else states.get(item_id)
        problem = history_finding(item, state, path_of(item.index))
        if problem is None:
            value = (item.version, item.function)
            latest[item_id] = shared.setdefault(value, ItemState(*value))
        else:
            changes[position] = item.with_findings(problem)
    return with_changes(items, changes)


def history_finding(item: ItemOutcome, state: ItemState | None, path: str) -> Finding | None:
    """The error an item earns against its itemId's latest accepted state, or None."""
    if item.function is ItemFunction.ORIGINAL:
        if state is None:
            return None
        return error(
            "ITEM_ALREADY_ACCEPTED",
            f"item {item.item_id} was already accepted (version {state.version}); "
            f"send an AMENDMENT with a version above {state.version}",
            f"{path}/function",
            item.line,
        )
    verb = item.function.value.lower()
    if state is None:
        return error(
            "UNKNOWN_ITEM",
            f"{verb} of item {item.item_id}, which was never accepted from this partner",
            f"{path}/itemId",
            item.line,
        )
    if state.function is ItemFunction.CANCELLATION:
        return error(
            "ITEM_CANCELLED",
            f"{verb} of item {item.item_id}, which was cancelled (version {state.version})",
            f"{path}/function",
            item.line,
        )
    if item.version <= state.version:
        return error(
            "VERSION_STALE",
            f"{verb} of item {item.item_id} carries version {item.version}; "
            f"the latest accepted is {state.version}, send a higher one",
            f"{path}/version",
            item.line,
        )
    return None
