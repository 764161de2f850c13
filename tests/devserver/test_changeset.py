"""Changeset lifecycle rules and key formats."""

from __future__ import annotations

import itertools

import pytest

from ftl.devserver.changeset import (
    IN_FLIGHT,
    NEXT_STATES,
    ChangesetState,
    DeploymentKey,
    can_move,
    is_changeset_key,
    new_changeset_key,
    new_deployment_key,
    parse_deployment_key,
)

S = ChangesetState
ALLOWED = {
    (S.PREPARING, S.PREPARED),
    (S.PREPARING, S.FAILED),
    (S.PREPARED, S.COMMITTED),
    (S.PREPARED, S.FAILED),
    (S.COMMITTED, S.DRAINED),
    (S.DRAINED, S.FINALIZED),
}


@pytest.mark.parametrize(("current", "target"), list(itertools.product(S, S)))
def test_only_the_documented_transitions_are_allowed(current: S, target: S) -> None:
    assert can_move(current, target) == ((current, target) in ALLOWED)


def test_finished_changesets_go_nowhere_and_only_unfinished_ones_own_their_modules() -> None:
    assert NEXT_STATES[S.FINALIZED] == NEXT_STATES[S.FAILED] == frozenset()
    assert frozenset({S.PREPARING, S.PREPARED}) == IN_FLIGHT
    # Once committed a changeset can no longer fail: its deployments have served.
    assert not can_move(S.COMMITTED, S.FAILED)


def test_deployment_keys_name_realm_and_module_and_are_unique() -> None:
    keys = {new_deployment_key("shop", "echo") for _ in range(200)}
    assert len(keys) == 200
    key = next(iter(keys))
    assert key.startswith("dpl-shop-echo-")
    parsed = parse_deployment_key(key)
    assert parsed is not None
    assert (parsed.realm, parsed.module) == ("shop", "echo")
    assert str(parsed) == key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("dpl-my_shop-time_module-0123456789ab", DeploymentKey("my_shop", "time_module", "0123456789ab")),
        ("dpl-shop-echo-short", None),
        ("dpl-shop-echo", None),
        ("chs-0123456789ab", None),
        ("dpl-Shop-echo-0123456789ab", None),
    ],
)
def test_parsing_deployment_keys(text: str, expected: DeploymentKey | None) -> None:
    assert parse_deployment_key(text) == expected


def test_changeset_keys() -> None:
    key = new_changeset_key()
    assert is_changeset_key(key)
    assert key.startswith("chs-")
    assert not is_changeset_key("dpl-shop-echo-0123456789ab")
    assert not is_changeset_key("chs-")
