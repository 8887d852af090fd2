"""The emulated Cloud Monitoring `google.monitoring.v3.AlertPolicyService`.

Part of the local emulator (controller/emulator): the server composes it with the notification channels
(`alerting_channels.py`) on one `MessageStore` (`alerting_store`), serves it over gRPC and, through the
http rules in `alerting_http.py`, over REST at /v3/projects/P/alertPolicies. Policies are stored, never
evaluated: no incident is ever opened.

- CreateAlertPolicy assigns `projects/P/alertPolicies/ID` and `.../conditions/CID` (a name sent by the
  caller is ignored, as documented), sets `enabled` when unset ("On write, the default interpretation if unset
  is that the policy is enabled") and `creation_record` / `mutation_record`.
- UpdateAlertPolicy with an update_mask sets each listed field to the supplied value or to its default when
  the supplied policy lacks it (`user_labels.KEY` / `user_label.KEY` address one label); without a mask the
  supplied policy replaces the old one, keeping the policy id and the ids of conditions that name one of its
  conditions. Read-only fields in a mask are ignored. The result is checked as a new policy would be.
- ListAlertPolicies: `filter` and `order_by` in the sorting-and-filtering language (`list_filter.py`), page
  tokens bound to the query, `total_size`.
Every check is in `alerting_checks.py`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import grpc
from google.cloud import monitoring_v3
from google.protobuf import empty_pb2, field_mask_pb2
from google.protobuf.message import Message

from controller.emulator.alerting_checks import Describe, check_policy
from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.list_filter import compile_filter, invalid_field, order, page_of
from controller.emulator.message_store import MessageStore
from controller.emulator.metrics_rpc import project_of

SERVICE = "google.monitoring.v3.AlertPolicyService"
POLICIES, CHANNELS = "alertPolicies", "notificationChannels"
DEFAULT_PAGE_SIZE = 100  # "a reasonable value will be chosen by the service"
MUTATED_BY = "emulator@genaiops.local"
_POLICY = monitoring_v3.AlertPolicy.pb()
_NAME = re.compile(r"projects/([^/]+)/alertPolicies/([^/]+)")
_READ_ONLY = frozenset({"name", "creation_record", "mutation_record", "validity"})
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")


def alerting_store(path: Path | None) -> MessageStore:
    """The store the alert-policy and notification-channel services share (a policy names channels)."""
    return MessageStore({POLICIES: _POLICY, CHANNELS: monitoring_v3.NotificationChannel.pb()}, path=path)


def metric_describer(methods: Iterable[RpcMethod]) -> Describe:
    """(kind, value type) of a metric known to the emulated MetricService, through its GetMetricDescriptor."""
    get = next((m.handler for m in methods if m.full_name.endswith("MetricService/GetMetricDescriptor")), None)

    def describe(project: str, metric_type: str) -> tuple[int, int] | None:
        if get is None:
            return None
        request = monitoring_v3.GetMetricDescriptorRequest(name=f"projects/{project}/metricDescriptors/{metric_type}")
        try:
            descriptor = get(request)
        except ApiError:
            return None
        return int(descriptor.metric_kind), int(descriptor.value_type)

    return describe


def listed(store: MessageStore, collection: str, kind: str, descriptor: Any, pb: Any) -> tuple[list[Any], str, int]:
    """One page of a List request over `collection` (`kind`: alertPolicies | notificationChannels): the
    project's messages, oldest first, filtered and ordered as asked; (page, next token, total matched)."""
    prefix = f"projects/{project_of(pb.name)}/{kind}/"
    matches = compile_filter(descriptor, pb.filter)
    with store.transaction(write=False) as collections:
        found = [copy_of(m) for name, m in collections[collection].items() if name.startswith(prefix)]
    found.sort(key=lambda m: (m.creation_record.mutate_time.ToNanoseconds(), m.name))
    selected = order([m for m in found if matches(m)], descriptor, pb.order_by)
    page, token = page_of(selected, pb, default_size=DEFAULT_PAGE_SIZE)
    return page, token, len(selected)


def copy_of(message: Message) -> Any:
    """A copy that later changes to the stored message cannot reach (answers are serialized after the lock)."""
    duplicate = type(message)()
    duplicate.CopyFrom(message)
    return duplicate


def stamp(record: Any, now: float) -> None:
    """Fill a `MutationRecord`."""
    record.mutate_time.FromNanoseconds(round(now * 1e9))
    record.mutated_by = MUTATED_BY


def split_name(name: str, pattern: re.Pattern[str], field: str, form: str) -> tuple[str, str]:
    """(project, id) of a resource name; INVALID_ARGUMENT naming `field` when it has another form."""
    found = pattern.fullmatch(name)
    if found is None:
        raise invalid_field(field, name, f"expected {form}")
    return found.group(1), found.group(2)


class AlertPolicyService:
    """Alert policies of every project, on the shared store; `describe` tells metric kinds to the checks."""

    def __init__(self, store: MessageStore, *, describe: Describe, clock: Callable[[], float]) -> None:
        self._store = store
        self._describe = describe
        self._clock = clock

    def methods(self) -> list[RpcMethod]:
        """AlertPolicyService methods for the adapters."""
        m = monitoring_v3
        return [
            RpcMethod(
                SERVICE, "ListAlertPolicies", m.ListAlertPoliciesRequest, m.ListAlertPoliciesResponse, self._list
            ),
            RpcMethod(SERVICE, "GetAlertPolicy", m.GetAlertPolicyRequest, m.AlertPolicy, self._get),
            RpcMethod(SERVICE, "CreateAlertPolicy", m.CreateAlertPolicyRequest, m.AlertPolicy, self._create),
            RpcMethod(SERVICE, "UpdateAlertPolicy", m.UpdateAlertPolicyRequest, m.AlertPolicy, self._update),
            RpcMethod(SERVICE, "DeleteAlertPolicy", m.DeleteAlertPolicyRequest, empty_pb2.Empty, self._delete),
        ]

    # -- RPCs ----------------------------------------------------------------------------------------
    def _list(self, request: monitoring_v3.ListAlertPoliciesRequest) -> Any:
        pb = monitoring_v3.ListAlertPoliciesRequest.pb(request)
        page, token, total = listed(self._store, POLICIES, "alertPolicies", _POLICY.DESCRIPTOR, pb)
        response = monitoring_v3.ListAlertPoliciesResponse.pb()(
            alert_policies=page, next_page_token=token, total_size=total
        )
        return monitoring_v3.ListAlertPoliciesResponse.wrap(response)

    def _get(self, request: monitoring_v3.GetAlertPolicyRequest) -> Any:
        name = monitoring_v3.GetAlertPolicyRequest.pb(request).name
        with self._store.transaction(write=False) as collections:
            return monitoring_v3.AlertPolicy.wrap(copy_of(self._existing(collections, name, "name")))

    def _create(self, request: monitoring_v3.CreateAlertPolicyRequest) -> Any:
        pb = monitoring_v3.CreateAlertPolicyRequest.pb(request)
        project = project_of(pb.name)
        if not pb.HasField("alert_policy"):
            raise invalid_field("alert_policy", "", "An alert policy is required.")
        policy = copy_of(pb.alert_policy)
        with self._store.transaction(write=True) as collections:
            self._check(policy, project, collections)
            policies = collections[POLICIES]
            prefix = f"projects/{project}/alertPolicies/"
            name = prefix + self._store.new_id(policies, prefix)
            self._finish(policy, name, previous=None)
            policies[name] = policy
            return monitoring_v3.AlertPolicy.wrap(copy_of(policy))

    def _update(self, request: monitoring_v3.UpdateAlertPolicyRequest) -> Any:
        pb = monitoring_v3.UpdateAlertPolicyRequest.pb(request)
        name = pb.alert_policy.name
        with self._store.transaction(write=True) as collections:
            existing = self._existing(collections, name, "alert_policy.name")
            if pb.update_mask.paths:
                policy = copy_of(existing)
                _apply_mask(pb.update_mask.paths, pb.alert_policy, policy)
            else:
                policy = copy_of(pb.alert_policy)
            self._check(policy, name.split("/")[1], collections)
            self._finish(policy, name, previous=existing)
            collections[POLICIES][name] = policy
            return monitoring_v3.AlertPolicy.wrap(copy_of(policy))

    def _delete(self, request: monitoring_v3.DeleteAlertPolicyRequest) -> empty_pb2.Empty:
        name = monitoring_v3.DeleteAlertPolicyRequest.pb(request).name
        with self._store.transaction(write=True) as collections:
            self._existing(collections, name, "name")
            del collections[POLICIES][name]
        return empty_pb2.Empty()

    # -- helpers -------------------------------------------------------------------------------------
    @staticmethod
    def _existing(collections: dict[str, dict[str, Message]], name: str, field: str) -> Any:
        split_name(name, _NAME, field, "projects/[PROJECT_ID_OR_NUMBER]/alertPolicies/[ALERT_POLICY_ID]")
        policy = collections[POLICIES].get(name)
        if policy is None:
            raise ApiError(grpc.StatusCode.NOT_FOUND, f"Could not find alert policy {name}.")
        return policy

    def _check(self, policy: Any, project: str, collections: dict[str, dict[str, Message]]) -> None:
        channels = collections[CHANNELS]
        check_policy(policy, project=project, describe=self._describe, channel_exists=channels.__contains__)

    def _finish(self, policy: Any, name: str, *, previous: Any | None) -> None:
        """Server-assigned and read-only fields: names, `enabled` by default, the mutation records."""
        now = self._clock()
        policy.name = name
        policy.ClearField("validity")
        kept = {c.name for c in previous.conditions} if previous is not None else set()
        seen: set[str] = set()
        for condition in policy.conditions:
            if condition.name not in kept or condition.name in seen:  # new, or not a condition of this policy
                prefix = f"{name}/conditions/"
                condition.name = prefix + self._store.new_id(dict.fromkeys(kept | seen), prefix)
            seen.add(condition.name)
        if not policy.HasField("enabled"):
            policy.enabled.value = True
        policy.ClearField("creation_record")
        if previous is not None:
            policy.creation_record.CopyFrom(previous.creation_record)
        else:
            stamp(policy.creation_record, now)
        policy.ClearField("mutation_record")
        stamp(policy.mutation_record, now)


def _apply_mask(paths: Iterable[str], source: Any, target: Any) -> None:
    """UpdateAlertPolicyRequest.update_mask (docstring): each listed field of the existing policy is set to the
    supplied value, or to its default when the supplied policy lacks it; `user_label.KEY` names one label."""
    for raw in paths:
        path = ".".join(_CAMEL.sub(r"\1_\2", part).lower() for part in raw.split("."))
        head, _, key = path.partition(".")
        if head in ("user_labels", "user_label") and key:
            if key in source.user_labels:
                target.user_labels[key] = source.user_labels[key]
            else:
                target.user_labels.pop(key, None)
            continue
        if head in _READ_ONLY:
            continue  # "If provided in a call to create or update, this field will be ignored."
        mask = field_mask_pb2.FieldMask(paths=[path])
        if not mask.IsValidForDescriptor(_POLICY.DESCRIPTOR):
            raise invalid_field("update_mask", raw, "not a field of AlertPolicy")
        mask.MergeMessage(source, target, replace_message_field=True, replace_repeated_field=True)
