"""REST routing for the emulator's HTTP/JSON gateway (used by `rest.py`).

The URL routes are not written by hand: they are read from the http rules compiled into the installed
Google REST transports (`..._Base<Service>RestTransport._Base<Method>._get_http_options()`), so the
gateway answers exactly the URLs the real clients send. This module turns those rules into matchers and
converts an HTTP request (path variables, query string, JSON body) into the RPC's request message,
following google.api.http transcoding.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from controller.emulator.alerting_http import WRITTEN_TRANSPORTS
from controller.emulator.api import RpcMethod

# Query parameters that are system parameters of Google APIs, not request fields.
_SYSTEM_PARAMS = frozenset(
    {"alt", "key", "prettyPrint", "fields", "access_token", "callback", "quotaUser", "uploadType"}
)
_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")
_TEMPLATE_VERB = re.compile(r":([A-Za-z0-9_]+)$")
# Mixin RPCs that every REST transport carries, and the proto service each belongs to.
_MIXINS = {
    **dict.fromkeys(
        ("GetOperation", "WaitOperation", "ListOperations", "DeleteOperation", "CancelOperation"),
        "google.longrunning.Operations",
    ),
    **dict.fromkeys(("GetLocation", "ListLocations"), "google.cloud.location.Locations"),
    **dict.fromkeys(("GetIamPolicy", "SetIamPolicy", "TestIamPermissions"), "google.iam.v1.IAMPolicy"),
}
_MIXIN_SERVICES = frozenset(_MIXINS.values())


class RequestDecodeError(ValueError):
    """The HTTP request cannot be turned into the RPC's request message (an INVALID_ARGUMENT)."""


@dataclass(frozen=True)
class Route:
    """One http rule of one RPC: `GET /v1/{name=projects/*/...}`, an optional `:verb`, a body field."""

    http_method: str  # upper case: GET, POST, PATCH, DELETE, PUT
    template: str
    pattern: re.Pattern[str]  # the template without its custom verb
    verb: str  # the custom verb (`deployModel`), or ""
    path_fields: tuple[str, ...]  # dotted proto field paths, in the order of the regex groups
    body: str | None  # "*", a top-level field name, or None
    rpc: str  # `package.Service/Method`
    method: RpcMethod | None  # None: the client library has this RPC but the emulator does not serve it

    def match(self, path: str, verb: str) -> dict[str, str] | None:
        """The decoded path variables if the (URL-encoded, verb-less) path matches, else None."""
        if verb != self.verb:
            return None
        found = self.pattern.fullmatch(path)
        if found is None:
            return None
        return {field: unquote(value) for field, value in zip(self.path_fields, found.groups(), strict=True)}


def split_verb(path: str) -> tuple[str, str]:
    """`/v1/x/e:deployModel` -> (`/v1/x/e`, `deployModel`): the verb follows the last `:` of the last segment."""
    head, slash, last = path.rpartition("/")
    if ":" not in last:
        return path, ""
    segment, _, verb = last.rpartition(":")
    return head + slash + segment, verb


def _segment_regex(pattern: str) -> str:
    """Regex for a path pattern such as `projects/*/locations/*` (`*` one segment, `**` any)."""
    parts = []
    for segment in pattern.split("/"):
        if segment == "*":
            parts.append(r"[^/]+")
        elif segment == "**":
            parts.append(r".+")
        else:
            parts.append(re.escape(segment))
    return "/".join(parts)


def compile_template(template: str) -> tuple[re.Pattern[str], str, tuple[str, ...]]:
    """Compile an http rule's URI template: a regex (one group per path variable), its verb, the fields."""
    verb_match = _TEMPLATE_VERB.search(template)
    verb = verb_match.group(1) if verb_match else ""
    if verb_match:
        template = template[: verb_match.start()]
    regex: list[str] = []
    fields: list[str] = []
    position = 0
    for variable in _VARIABLE.finditer(template):
        regex.append(_segment_regex(template[position : variable.start()]))
        fields.append(variable.group(1).strip())
        regex.append(f"({_segment_regex(variable.group(2) or '*')})")
        position = variable.end()
    regex.append(_segment_regex(template[position:]))
    return re.compile("".join(regex)), verb, tuple(fields)


def _python_package(message_type: Any) -> str | None:
    """`google.cloud.aiplatform_v1` for a request type defined in `google.cloud.aiplatform_v1.types.x`."""
    module: str = message_type.__module__
    if ".types." not in module:
        return None
    return module.split(".types.", 1)[0]


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _transport_base(method: RpcMethod) -> Any | None:
    """The `_Base<Service>RestTransport` class of the installed client package of a method's service."""
    package = _python_package(method.request_type)
    if package is None or method.service in _MIXIN_SERVICES:
        return None
    short = method.service.rsplit(".", 1)[-1]
    try:
        module = importlib.import_module(f"{package}.services.{_snake(short)}.transports.rest_base")
    except ImportError:  # no REST transport installed (Cloud Monitoring): the rules written from googleapis
        return WRITTEN_TRANSPORTS.get(method.service)
    return getattr(module, f"_Base{short}RestTransport", None)


def _http_rules(base: Any, method_name: str) -> list[dict[str, str]]:
    holder = getattr(base, f"_Base{method_name}", None)
    if holder is None or not hasattr(holder, "_get_http_options"):
        return []
    rules: list[dict[str, str]] = holder._get_http_options()
    return rules


class _RouteTable:
    """Collects routes once per (HTTP method, template): the first RPC to claim a rule keeps it."""

    def __init__(self) -> None:
        self.routes: list[Route] = []
        self._seen: set[tuple[str, str]] = set()

    def add(self, rules: Iterable[dict[str, str]], rpc: str, method: RpcMethod | None) -> None:
        for rule in rules:
            key = (rule["method"].upper(), rule["uri"])
            if key in self._seen:
                continue
            self._seen.add(key)
            pattern, verb, fields = compile_template(rule["uri"])
            self.routes.append(Route(key[0], rule["uri"], pattern, verb, fields, rule.get("body"), rpc, method))


def build_routes(methods: Iterable[RpcMethod]) -> list[Route]:
    """Routes for every method that an installed REST transport describes; others are left out.

    A method's `http_paths` (regexes with named groups, for URLs no http rule describes) become POST routes.
    Mixin services (`google.longrunning.Operations`) take their rules from the transports of the other
    services served alongside them, as the real clients do. The other RPCs of those transports get
    routes without a method, so that calling them answers UNIMPLEMENTED (as gRPC does), not 404.
    """
    methods = list(methods)
    bases: dict[str, Any] = {}
    for method in methods:
        base = _transport_base(method)
        if base is not None:
            bases.setdefault(method.service, base)
    table = _RouteTable()
    for method in methods:
        if method.service in _MIXIN_SERVICES:
            rules = [rule for base in bases.values() for rule in _http_rules(base, method.name)]
        else:
            rules = _http_rules(bases.get(method.service), method.name)
        table.add(rules, method.full_name, method)
    for method in methods:
        for regex in method.http_paths:
            pattern = re.compile(regex)
            fields = tuple(pattern.groupindex)
            table.routes.append(Route("POST", regex, pattern, "", fields, None, method.full_name, method))
    served = {method.full_name for method in methods}
    for service, base in bases.items():
        for attribute in sorted(dir(base)):
            if not attribute.startswith("_Base"):
                continue
            name = attribute.removeprefix("_Base")
            rpc = f"{_MIXINS.get(name, service)}/{name}"
            if rpc not in served:
                table.add(_http_rules(base, name), rpc, None)
    return table.routes


# ----------------------------------------------------------------------------------------------------------
# Request decoding


def _field(descriptor: Any, name: str) -> FieldDescriptor | None:
    field: FieldDescriptor | None = descriptor.fields_by_name.get(name)
    if field is not None:
        return field
    candidates: list[FieldDescriptor] = [f for f in descriptor.fields if f.json_name == name]
    return candidates[0] if candidates else None


_SNAKE = re.compile(r"_([a-z0-9])")
_FIELD_MASK = "google.protobuf.FieldMask"


def field_mask_json(value: str) -> str:
    """A field mask from a query string in the JSON form json_format parses (camelCase paths).

    Google's REST front end takes both spellings in a query string (`updateMask=traffic_split`, which
    gcloud sends, and `updateMask=trafficSplit`, which the client libraries send), while the proto JSON
    mapping accepts only camelCase: snake_case paths are turned into camelCase here."""
    paths = (path.strip() for path in value.split(","))
    return ",".join(".".join(_SNAKE.sub(lambda m: m[1].upper(), part) for part in path.split(".")) for path in paths)


def _query_value(field: FieldDescriptor, value: str) -> Any:
    """A query-string value in the form json_format expects for this field."""
    if field.type == FieldDescriptor.TYPE_ENUM and value.lstrip("-").isdigit():
        return int(value)
    if field.type == FieldDescriptor.TYPE_BOOL and value.lower() in ("true", "false"):
        return value.lower() == "true"  # `?force=true` (DeleteNotificationChannel); Python clients send `False`
    if field.message_type is not None and field.message_type.full_name == _FIELD_MASK:
        return field_mask_json(value)
    return value


def _put_query_param(target: dict[str, Any], descriptor: Any, key: str, value: str) -> None:
    parts = key.split(".")
    for index, part in enumerate(parts):
        field = _field(descriptor, part)
        if field is None:
            raise RequestDecodeError(f"Invalid query parameter {key!r}: no such field in the request.")
        last = index == len(parts) - 1
        if last or field.message_type is None or field.message_type.GetOptions().map_entry:
            if not last:
                raise RequestDecodeError(f"Cannot bind query parameter {key!r}.")
            converted = _query_value(field, value)
            if field.is_repeated:
                target.setdefault(field.name, []).append(converted)
            else:
                target[field.name] = converted
            return
        target = target.setdefault(field.name, {})
        descriptor = field.message_type


def _put_path_param(target: dict[str, Any], dotted: str, value: str) -> None:
    *parents, leaf = dotted.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[leaf] = value


def _merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def new_message(message_type: Any) -> Message:
    """An empty raw protobuf message for a proto-plus or a raw protobuf message class."""
    if hasattr(message_type, "pb"):
        pb_class: Any = message_type.pb()
        created: Message = pb_class()
        return created
    plain: Message = message_type()
    return plain


def _body_fields(rule: str | None, body: bytes) -> dict[str, Any]:
    """The request fields carried by the JSON body, per the rule's `body` (`*`, one field, or none)."""
    if not rule or not body.strip():
        return {}
    try:
        payload: Any = json.loads(body)
    except ValueError as err:
        raise RequestDecodeError(f"Invalid JSON payload received. {err}") from err
    if rule != "*":
        return {rule: payload}
    if not isinstance(payload, dict):
        raise RequestDecodeError("Invalid JSON payload received. Expected an object.")
    return payload


def decode_request(
    method: RpcMethod, body_rule: str | None, path_params: dict[str, str], query: str, body: bytes
) -> tuple[Any, dict[str, list[str]]]:
    """The RPC request for this HTTP call, plus the system parameters (`$alt`, `alt`...) that came with it.

    As in google.api.http transcoding: the body fills the request (or one field of it), the query string
    fills the remaining fields (proto or JSON names, dotted for nested ones; field-mask paths in snake_case
    or camelCase), and path variables win.
    """
    message = new_message(method.request_type)
    fields = _body_fields(body_rule, body)
    system: dict[str, list[str]] = {}
    query_fields: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key.startswith("$") or key in _SYSTEM_PARAMS:
            system.setdefault(key, []).append(value)
        else:
            _put_query_param(query_fields, message.DESCRIPTOR, key, value)
    _merge(fields, query_fields)
    for dotted, value in path_params.items():
        _put_path_param(fields, dotted, value)
    try:
        json_format.ParseDict(fields, message)
    except (json_format.ParseError, TypeError, ValueError) as err:
        raise RequestDecodeError(f"Invalid JSON payload received. {err}") from err
    request_type = method.request_type
    return (request_type.wrap(message) if hasattr(request_type, "wrap") else message), system


def encode_response(response_type: Any, response: Any, *, int_enums: bool) -> bytes:
    """The JSON body for an RPC response (camelCase names, int64 as strings, as Google sends)."""
    message: Message = response
    if not isinstance(response, Message) and hasattr(response_type, "pb"):
        message = response_type.pb(response)
    text = json_format.MessageToJson(message, use_integers_for_enums=int_enums, indent=None)
    return text.encode("utf-8")


def find_route(routes: Sequence[Route], http_method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The first route that matches the HTTP method and the URL-encoded path, with its path variables."""
    base, verb = split_verb(path)
    for route in routes:
        if route.http_method != http_method:
            continue
        params = route.match(base, verb)
        if params is not None:
            return route, params
    return None
