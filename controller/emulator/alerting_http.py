"""The REST surface of Cloud Monitoring's alerting services, for the emulator's REST gateway.

Part of the local emulator (controller/emulator). `rest_routes.py` reads each service's URLs from the http
rules compiled into the installed REST transports, but google-cloud-monitoring ships gRPC transports only,
so the emulated MetricService has no REST routes and neither would the alerting services. These are their
`google.api.http` rules as googleapis declares them (google/monitoring/v3/alert_service.proto and
notification_service.proto), dressed as the `_Base<Service>RestTransport` classes `rest_routes` reads, so
that the gateway serves /v3/projects/P/alertPolicies and /v3/projects/P/notificationChannels... with the
same transcoding as every other route (the verification-code RPCs answer UNIMPLEMENTED).
"""

from __future__ import annotations

from typing import Any

_ALERT_POLICIES = {
    "ListAlertPolicies": [{"method": "get", "uri": "/v3/{name=projects/*}/alertPolicies"}],
    "GetAlertPolicy": [{"method": "get", "uri": "/v3/{name=projects/*/alertPolicies/*}"}],
    "CreateAlertPolicy": [{"method": "post", "uri": "/v3/{name=projects/*}/alertPolicies", "body": "alert_policy"}],
    "DeleteAlertPolicy": [{"method": "delete", "uri": "/v3/{name=projects/*/alertPolicies/*}"}],
    "UpdateAlertPolicy": [
        {"method": "patch", "uri": "/v3/{alert_policy.name=projects/*/alertPolicies/*}", "body": "alert_policy"}
    ],
}
_CHANNEL = "/v3/{name=projects/*/notificationChannels/*}"
_NOTIFICATION_CHANNELS = {
    "ListNotificationChannelDescriptors": [
        {"method": "get", "uri": "/v3/{name=projects/*}/notificationChannelDescriptors"}
    ],
    "GetNotificationChannelDescriptor": [
        {"method": "get", "uri": "/v3/{name=projects/*/notificationChannelDescriptors/*}"}
    ],
    "ListNotificationChannels": [{"method": "get", "uri": "/v3/{name=projects/*}/notificationChannels"}],
    "GetNotificationChannel": [{"method": "get", "uri": _CHANNEL}],
    "CreateNotificationChannel": [
        {"method": "post", "uri": "/v3/{name=projects/*}/notificationChannels", "body": "notification_channel"}
    ],
    "UpdateNotificationChannel": [
        {
            "method": "patch",
            "uri": "/v3/{notification_channel.name=projects/*/notificationChannels/*}",
            "body": "notification_channel",
        }
    ],
    "DeleteNotificationChannel": [{"method": "delete", "uri": _CHANNEL}],
    "SendNotificationChannelVerificationCode": [
        {"method": "post", "uri": _CHANNEL + ":sendVerificationCode", "body": "*"}
    ],
    "GetNotificationChannelVerificationCode": [
        {"method": "post", "uri": _CHANNEL + ":getVerificationCode", "body": "*"}
    ],
    "VerifyNotificationChannel": [{"method": "post", "uri": _CHANNEL + ":verify", "body": "*"}],
}


def _transport_base(service: str, rules: dict[str, list[dict[str, str]]]) -> type:
    """A class shaped like a generated `_Base<Service>RestTransport`: `_Base<Method>._get_http_options()`."""

    def holder(method: str, method_rules: list[dict[str, str]]) -> type:
        options: Any = staticmethod(lambda: [dict(rule) for rule in method_rules])
        return type(f"_Base{method}", (), {"_get_http_options": options})

    attributes = {f"_Base{method}": holder(method, method_rules) for method, method_rules in rules.items()}
    return type(f"_Base{service}RestTransport", (), attributes)


# proto service -> transport-like class, for services whose installed client library has no REST transport.
WRITTEN_TRANSPORTS: dict[str, type] = {
    "google.monitoring.v3.AlertPolicyService": _transport_base("AlertPolicyService", _ALERT_POLICIES),
    "google.monitoring.v3.NotificationChannelService": _transport_base(
        "NotificationChannelService", _NOTIFICATION_CHANNELS
    ),
}
