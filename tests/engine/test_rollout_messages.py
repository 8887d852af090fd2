"""What a rollout tells people, measured through the real providers on the emulator: a canary that gets too
few requests is measured over the analysis window and, once paused, says how many requests it saw in that
window against minRequests and which setting to change; the reason reads back from the endpoint's labels."""

from __future__ import annotations

from controller.engine.apply import ApplyOptions, apply_changes
from controller.engine.planning import canary_endpoints, manifests_of
from controller.engine.rollout_driver import RolloutDriver
from controller.observed import Phase
from controller.rollout.reason import Kind
from controller.rollout.state import from_labels
from controller.rollout.verdicts import Shortfall
from tests.engine.conftest import HEALTHY_V2, Cloud, endpoint_yaml, model_yaml

MIN_REQUESTS = 100_000  # far above what 5 requests a second bring in a 10 s window


def test_a_canary_starved_of_requests_pauses_saying_requests_seen_in_the_window_and_what_to_change(
    cloud: Cloud,
) -> None:
    apply_changes(
        cloud.session,
        cloud.write(models=model_yaml(), endpoints=endpoint_yaml()),
        options=ApplyOptions(),
        audit=cloud.audit,
    )
    load = cloud.write(models=model_yaml(HEALTHY_V2), endpoints=endpoint_yaml(canary=True, min_requests=MIN_REQUESTS))
    apply_changes(cloud.session, load, options=ApplyOptions(), audit=cloud.audit)
    assert cloud.session.metrics is not None
    driver = RolloutDriver(
        ports=cloud.session.ports, metrics=cloud.session.metrics, clock=cloud.clock, audit=cloud.audit
    )
    (chat,) = canary_endpoints(manifests_of(load))

    measured = []
    for _ in range(12):  # initial delay 10 s, then one run every 10 s; more than 3 inconclusive pause it
        cloud.serve(10, rps=5.0)
        status = driver.advance(chat)
        assert status is not None
        measured += [m for e in status.events for m in e.measurements]
        if status.state.phase is Phase.PAUSED:
            break
    assert status.state.phase is Phase.PAUSED, status.state

    assert measured and all(m.shortfall is Shortfall.TOO_FEW_REQUESTS for m in measured)
    assert {(m.min_requests, m.window_s) for m in measured} == {(MIN_REQUESTS, 10.0)}
    last = measured[-1]
    assert last.describe().endswith(f"(inconclusive: {last.requests} requests in 10s, below minRequests 100000)")

    reason = from_labels(cloud.endpoint().labels)
    assert reason is not None and reason.reason is not None
    why = reason.reason
    assert why.kind is Kind.TOO_FEW_REQUESTS and (why.min_requests, why.window_s) == (MIN_REQUESTS, 10.0)
    assert why.requests is not None and 0 < why.requests < MIN_REQUESTS
    assert why.describe() == (
        f"4 inconclusive measurements (limit 3): {why.requests} requests in 10s, below minRequests 100000 — "
        "lower minRequests, give the canary more traffic (a higher step weight or a longer interval), or raise "
        "inconclusiveLimit"
    )
