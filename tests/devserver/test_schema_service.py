"""The schema service as a state machine: event sequences in, states out; bad events change nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from ftl.devserver.changeset import ChangesetState, DeploymentState
from ftl.devserver.events import (
    ChangesetCommitted,
    ChangesetCreated,
    ChangesetDrained,
    ChangesetFailed,
    ChangesetFinalized,
    ChangesetPrepared,
    DeploymentRuntimeUpdated,
    Event,
    ExternalRealmPinned,
    ExternalRealmUnpinned,
    NewDeployment,
)
from ftl.devserver.schema_service import (
    InvalidEvent,
    SchemaService,
    SchemaState,
    Snapshot,
    fold,
    initial_state,
    transition,
)
from ftl.schema import ast, parse_module, parse_schema

ECHO = """
module echo {
  export data EchoRequest { name String }
  export data EchoResponse { message String }
  export verb echo(echo.EchoRequest) echo.EchoResponse
}
"""
# The same module without the verb greeter calls.
ECHO_RENAMED = ECHO.replace("verb echo(", "verb shout(")
GREETER = """
module greeter {
  export verb greet(echo.EchoRequest) echo.EchoResponse
    +calls echo.echo
}
"""
TIME = """
module time {
  export verb now(Unit) Int
}
"""

K_ECHO_1 = "dpl-shop-echo-aaaaaaaaaa01"
K_ECHO_2 = "dpl-shop-echo-aaaaaaaaaa02"
K_GREETER = "dpl-shop-greeter-aaaaaaaaaa03"
K_TIME = "dpl-shop-time-aaaaaaaaaa04"
CS = ["chs-00000000000" + str(i) for i in range(10)]


def created(
    changeset: str, *deployments: tuple[str, str], removals: tuple[str, ...] = ()
) -> ChangesetCreated:
    return ChangesetCreated(
        changeset,
        tuple(NewDeployment(key, parse_module(text)) for key, text in deployments),
        removals,
        time=1.0,
    )


def deploy_events(changeset: str, *deployments: tuple[str, str], port: int = 7000) -> list[Event]:
    """A complete, successful changeset."""
    return [
        created(changeset, *deployments),
        *(DeploymentRuntimeUpdated(key, f"127.0.0.1:{port + i}") for i, (key, _) in enumerate(deployments)),
        ChangesetPrepared(changeset),
        ChangesetCommitted(changeset),
        ChangesetDrained(changeset),
        ChangesetFinalized(changeset),
    ]


def live_verbs(state: SchemaState) -> set[str]:
    realm = state.schema.realm("shop")
    assert realm is not None
    return {f"{m.name}.{v.name}" for m in realm.modules if not m.builtin for v in m.verbs()}


@pytest.fixture
def base() -> SchemaState:
    return fold(initial_state("shop"), deploy_events(CS[0], (K_ECHO_1, ECHO)))


def test_the_initial_state_is_an_empty_realm_with_its_builtins() -> None:
    state = initial_state("shop")
    realm = state.schema.realm("shop")
    assert realm is not None
    assert [m.name for m in realm.modules] == ["builtin"]
    assert (dict(state.deployments), dict(state.live), state.sequence) == ({}, {}, 0)


def test_a_changeset_moves_through_its_whole_lifecycle() -> None:
    state = initial_state("shop")
    state = transition(state, created(CS[0], (K_ECHO_1, ECHO)))
    assert state.changesets[CS[0]].state == ChangesetState.PREPARING
    assert state.deployments[K_ECHO_1].state == DeploymentState.STARTING
    assert state.deployments[K_ECHO_1].version == 1
    assert live_verbs(state) == set()  # nothing serves before the commit

    state = transition(state, DeploymentRuntimeUpdated(K_ECHO_1, "127.0.0.1:7000"))
    state = transition(state, ChangesetPrepared(CS[0]))
    assert state.changesets[CS[0]].state == ChangesetState.PREPARED

    state = transition(state, ChangesetCommitted(CS[0]))
    assert state.changesets[CS[0]].state == ChangesetState.COMMITTED
    assert dict(state.live) == {"echo": K_ECHO_1}
    assert state.deployments[K_ECHO_1].state == DeploymentState.LIVE
    assert live_verbs(state) == {"echo.echo"}
    assert state.generation == 1

    state = transition(state, ChangesetDrained(CS[0]))
    state = transition(state, ChangesetFinalized(CS[0]))
    assert state.changesets[CS[0]].state == ChangesetState.FINALIZED
    assert state.sequence == 6


def test_a_redeploy_replaces_the_old_deployment_which_drains(base: SchemaState) -> None:
    state = fold(
        base,
        [
            created(CS[1], (K_ECHO_2, ECHO)),
            DeploymentRuntimeUpdated(K_ECHO_2, "127.0.0.1:7001"),
            ChangesetPrepared(CS[1]),
        ],
    )
    assert dict(state.live) == {"echo": K_ECHO_1}  # the old one serves while the new one prepares
    state = transition(state, ChangesetCommitted(CS[1]))
    assert dict(state.live) == {"echo": K_ECHO_2}
    assert state.changesets[CS[1]].replaced == (K_ECHO_1,)
    assert state.deployments[K_ECHO_1].state == DeploymentState.DRAINING
    assert state.deployments[K_ECHO_2].version == 2
    state = transition(state, ChangesetDrained(CS[1]))
    assert set(state.deployments) == {K_ECHO_2}


def test_a_changeset_that_breaks_a_dependent_fails_and_the_old_version_keeps_serving(
    base: SchemaState,
) -> None:
    state = fold(base, deploy_events(CS[1], (K_GREETER, GREETER), port=7100))
    before = state
    state = transition(state, created(CS[2], (K_ECHO_2, ECHO_RENAMED)))
    diagnostics = state.changesets[CS[2]].diagnostics
    assert diagnostics, "removing echo.echo must break greeter's +calls"
    assert any("echo.echo" in d.message or "echo" in d.message for d in diagnostics)

    state = transition(state, DeploymentRuntimeUpdated(K_ECHO_2, "127.0.0.1:7200"))
    with pytest.raises(InvalidEvent, match="does not validate"):
        transition(state, ChangesetPrepared(CS[2]))
    state = transition(state, ChangesetFailed(CS[2], "the merged schema does not validate"))
    assert state.changesets[CS[2]].state == ChangesetState.FAILED
    assert state.changesets[CS[2]].diagnostics == diagnostics
    assert K_ECHO_2 not in state.deployments
    assert dict(state.live) == dict(before.live)
    assert state.schema == before.schema


def test_a_commit_is_checked_again_against_what_went_live_meanwhile(base: SchemaState) -> None:
    # Both changesets fit the live schema on their own; together they do not.
    state = fold(
        base,
        [
            created(CS[1], (K_GREETER, GREETER)),
            created(CS[2], (K_ECHO_2, ECHO_RENAMED)),
            DeploymentRuntimeUpdated(K_GREETER, "127.0.0.1:7100"),
            DeploymentRuntimeUpdated(K_ECHO_2, "127.0.0.1:7200"),
            ChangesetPrepared(CS[1]),
            ChangesetPrepared(CS[2]),
            ChangesetCommitted(CS[2]),
        ],
    )
    assert not state.changesets[CS[1]].diagnostics
    with pytest.raises(InvalidEvent, match="no longer fits") as raised:
        transition(state, ChangesetCommitted(CS[1]))
    assert raised.value.diagnostics
    state = transition(state, ChangesetFailed(CS[1], "no longer fits"))
    assert dict(state.live) == {"echo": K_ECHO_2}


def test_a_changeset_can_remove_a_module(base: SchemaState) -> None:
    state = fold(base, deploy_events(CS[1], (K_TIME, TIME)))
    state = fold(
        state, [created(CS[2], removals=("time",)), ChangesetPrepared(CS[2]), ChangesetCommitted(CS[2])]
    )
    assert dict(state.live) == {"echo": K_ECHO_1}
    assert state.changesets[CS[2]].replaced == (K_TIME,)
    assert live_verbs(state) == {"echo.echo"}


def test_removing_a_module_others_depend_on_fails(base: SchemaState) -> None:
    state = fold(base, deploy_events(CS[1], (K_GREETER, GREETER)))
    state = transition(state, created(CS[2], removals=("echo",)))
    assert state.changesets[CS[2]].diagnostics


INVALID: list[tuple[str, Callable[[], Event], str]] = [
    ("unknown changeset", lambda: ChangesetPrepared(CS[9]), "unknown changeset"),
    ("commit before prepare", lambda: ChangesetCommitted(CS[1]), "cannot go from PREPARING to COMMITTED"),
    ("prepare without endpoint", lambda: ChangesetPrepared(CS[1]), "without an endpoint"),
    ("drain before commit", lambda: ChangesetDrained(CS[1]), "cannot go from PREPARING to DRAINED"),
    ("fail without reason", lambda: ChangesetFailed(CS[1], ""), "needs a reason"),
    (
        "fail a finished changeset",
        lambda: ChangesetFailed(CS[0], "late"),
        "cannot go from FINALIZED to FAILED",
    ),
    ("duplicate changeset", lambda: created(CS[0], (K_TIME, TIME)), "already exists"),
    ("malformed changeset key", lambda: created("changeset-1", (K_TIME, TIME)), "malformed changeset key"),
    (
        "key of another realm",
        lambda: created(CS[2], ("dpl-bank-time-aaaaaaaaaa09", TIME)),
        "is not `dpl-shop-time",
    ),
    (
        "key of another module",
        lambda: created(CS[2], ("dpl-shop-echo-aaaaaaaaaa09", TIME)),
        "is not `dpl-shop-time",
    ),
    ("reused deployment key", lambda: created(CS[2], (K_ECHO_1, ECHO)), "already exists"),
    (
        "module twice",
        lambda: created(CS[2], (K_TIME, TIME), ("dpl-shop-time-aaaaaaaaaa08", TIME)),
        "names a module twice",
    ),
    ("remove what is not deployed", lambda: created(CS[2], removals=("nothing",)), "not deployed"),
    (
        "module of a changeset in progress",
        lambda: created(CS[2], ("dpl-shop-time-aaaaaaaaaa06", TIME)),
        "already part of changeset",
    ),
    (
        "unknown deployment",
        lambda: DeploymentRuntimeUpdated("dpl-shop-x-aaaaaaaaaa00", "h:1"),
        "unknown deployment",
    ),
    ("malformed endpoint", lambda: DeploymentRuntimeUpdated(K_TIME, "nowhere"), "malformed endpoint"),
    (
        "internal realm pinned as external",
        lambda: ExternalRealmPinned(ast.Realm("bank")),
        "not marked external",
    ),
    (
        "external realm named like this one",
        lambda: ExternalRealmPinned(ast.Realm("shop", external=True)),
        "like this realm",
    ),
    ("unpin what is not pinned", lambda: ExternalRealmUnpinned("bank"), "is not pinned"),
]


@pytest.mark.parametrize(
    ("make", "message"), [(m, msg) for _, m, msg in INVALID], ids=[i for i, _, _ in INVALID]
)
def test_an_invalid_event_is_rejected_and_changes_nothing(make: Callable[[], Event], message: str) -> None:
    service = SchemaService("shop")
    for event in [*deploy_events(CS[0], (K_ECHO_1, ECHO)), created(CS[1], (K_TIME, TIME))]:
        service.apply(event)
    event = make()
    state, log = service.state, service.log()
    with pytest.raises(InvalidEvent, match=message.replace("`", ".").replace("(", ".")):
        service.apply(event)
    assert service.state is state
    assert service.log() == log


def test_pinning_an_external_realm_lets_modules_call_into_it() -> None:
    bank = parse_schema(
        """
        external realm bank {
          module balance {
            export realm data Receipt { amount Int }
            export realm verb get(Unit) balance.Receipt
          }
        }
        """
    ).realms[0]
    shop = """
    module shop {
      export verb pay(Unit) balance.Receipt@bank
        +calls balance.get@bank
    }
    """
    state = initial_state("shop")
    unpinned = transition(state, created(CS[0], ("dpl-shop-shop-aaaaaaaaaa05", shop)))
    assert unpinned.changesets[CS[0]].diagnostics
    state = transition(state, ExternalRealmPinned(bank))
    state = fold(state, deploy_events(CS[0], ("dpl-shop-shop-aaaaaaaaaa05", shop)))
    assert live_verbs(state) == {"shop.pay"}
    assert state.schema.realm("bank") is not None


def test_a_realm_is_unpinned_only_once_no_live_module_uses_it() -> None:
    bank = parse_schema(
        """
        external realm bank {
          module balance {
            export realm verb get(Unit) Int
          }
        }
        """
    ).realms[0]
    shop = """
    module shop {
      export verb pay(Unit) Int
        +calls balance.get@bank
    }
    """
    key = "dpl-shop-shop-aaaaaaaaaa05"
    pinned = transition(initial_state("shop"), ExternalRealmPinned(bank))
    unpinned = transition(pinned, ExternalRealmUnpinned("bank"))
    assert unpinned.schema.realm("bank") is None and not unpinned.external_realms
    assert unpinned.generation == pinned.generation + 1

    used = fold(pinned, deploy_events(CS[0], (key, shop)))
    with pytest.raises(InvalidEvent, match="unpinning realm bank breaks the live schema") as raised:
        transition(used, ExternalRealmUnpinned("bank"))
    assert raised.value.diagnostics
    removed = fold(
        used, [created(CS[1], removals=("shop",)), ChangesetPrepared(CS[1]), ChangesetCommitted(CS[1])]
    )
    assert transition(removed, ExternalRealmUnpinned("bank")).schema.realm("bank") is None


def test_a_changeset_can_pin_the_realm_version_its_modules_were_built_against() -> None:
    def bank(type_name: str) -> ast.Realm:
        text = f"""
        external realm bank {{
          module balance {{
            export realm data {type_name} {{ amount Int }}
          }}
        }}
        """
        return parse_schema(text).realms[0]

    def shop(type_name: str) -> str:
        return f"""
        module shop {{
          export verb pay(Unit) balance.{type_name}@bank
        }}
        """

    key_1, key_2, key_3 = (f"dpl-shop-shop-aaaaaaaaaa1{i}" for i in range(3))
    state = transition(initial_state("shop"), ExternalRealmPinned(bank("Receipt")))
    state = fold(state, deploy_events(CS[0], (key_1, shop("Receipt"))))
    # The new version breaks the live module: it cannot be pinned on its own.
    with pytest.raises(InvalidEvent, match="breaks the live schema"):
        transition(state, ExternalRealmPinned(bank("Statement")))

    # Nor with a module that does not fit it; the old pin stays.
    stale = ChangesetCreated(
        CS[1], (NewDeployment(key_2, parse_module(shop("Receipt"))),), realms=(bank("Statement"),)
    )
    failed = fold(state, [stale, ChangesetFailed(CS[1], "does not validate")])
    assert stale.changeset in failed.changesets and failed.changesets[CS[1]].diagnostics
    assert failed.external_realms["bank"] == state.external_realms["bank"]

    # Together with the module built against it, both go live at the commit, not before.
    fitting = ChangesetCreated(
        CS[2], (NewDeployment(key_3, parse_module(shop("Statement"))),), realms=(bank("Statement"),)
    )
    created_state = transition(failed, fitting)
    assert not created_state.changesets[CS[2]].diagnostics
    assert created_state.external_realms["bank"] == state.external_realms["bank"]
    committed = fold(
        created_state,
        [
            DeploymentRuntimeUpdated(key_3, "127.0.0.1:7100"),
            ChangesetPrepared(CS[2]),
            ChangesetCommitted(CS[2]),
        ],
    )
    assert committed.external_realms["bank"] == bank("Statement")
    realm = committed.schema.realm("bank")
    assert realm is not None and realm.module("balance") is not None
    balance = realm.module("balance")
    assert balance is not None and balance.decl("Statement") is not None

    with pytest.raises(InvalidEvent, match="not marked external"):
        transition(state, ChangesetCreated(CS[3], (), realms=(ast.Realm("bank"),)))


def test_the_log_folds_into_the_state_even_after_compaction() -> None:
    service = SchemaService("shop", max_log=6)
    events = [
        *deploy_events(CS[0], (K_ECHO_1, ECHO)),
        *deploy_events(CS[1], (K_ECHO_2, ECHO), port=7300),
        *deploy_events(CS[2], (K_TIME, TIME), port=7400),
    ]
    for event in events:
        service.apply(event)
    base, log = service.log()
    assert len(log) <= 6
    assert fold(base, log) == service.state
    assert fold(initial_state("shop"), events) == service.state


def test_subscribers_get_the_state_then_every_event() -> None:
    async def scenario() -> list[object]:
        service = SchemaService("shop")
        seen: list[object] = []
        service.on_change(
            lambda event, state: seen.append(("callback", type(event).__name__, state.sequence))
        )
        stream = service.subscribe()
        first = await anext(stream)
        assert isinstance(first, Snapshot)
        assert first.state is service.state
        events = deploy_events(CS[0], (K_ECHO_1, ECHO))
        for event in events:
            service.apply(event)
        seen.extend([await anext(stream) for _ in events])
        await stream.aclose()
        return seen

    seen = asyncio.run(scenario())
    callbacks, streamed = seen[:6], seen[6:]
    assert callbacks[0] == ("callback", "ChangesetCreated", 1)
    assert callbacks[-1] == ("callback", "ChangesetFinalized", 6)
    assert streamed == deploy_events(CS[0], (K_ECHO_1, ECHO))
