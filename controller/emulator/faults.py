"""Fault injection for the emulator: a `CallHook` the wire adapters call before and after every RPC.

Grammar of a fault spec (command line `--fault SPEC`, or `FaultInjector.add(SPEC)` at run time):

    SPEC    := METHOD ":" SETTING ( ":" SETTING )*
    METHOD  := "*"                                   every method
             | SHORT                                 e.g. UpdateEndpoint (the part after "/")
             | SERVICE "/" SHORT                     e.g. EndpointService/UpdateEndpoint or the full
                                                     google.cloud.aiplatform.v1.EndpointService/UpdateEndpoint
             | JSON-API id                           e.g. storage.objects.insert (Cloud Storage)
    SETTING := "rate=" FLOAT in [0, 1]               fail this fraction of calls
             | "fail_next=" INT >= 1                 fail the next N calls, then stop
             | "latency_ms=" FLOAT >= 0              add this delay to every call
             | "lost_reply=" FLOAT in [0, 1]         carry out this fraction of calls, then answer them
                                                     with the error instead of the reply (the change
                                                     landed; the caller does not know)
             | "hold_ms=" FLOAT >= 0                 carry out every call, then hold its reply this long
                                                     (a window to kill the caller after the change
                                                     landed and before it hears back); released early
                                                     when the emulator stops
             | "code=" STATUS                        status of injected failures (default UNAVAILABLE),
                                                     any gRPC code name but OK, e.g. RESOURCE_EXHAUSTED

Examples: `UpdateEndpoint:rate=0.3:code=UNAVAILABLE`, `*:latency_ms=20`, `GetEndpoint:fail_next=2:code=INTERNAL`,
`DeployModel:lost_reply=0.3`, `DeployModel:hold_ms=60000`.
Every matching rule applies: latencies add up, then a `fail_next` rule with calls left fails the call,
else each `rate` rule draws (seeded). After the call ran, holds add up, then each `lost_reply` rule draws.
The emulator's own admin service (`genaiops.emulator.*`) is exempt.
"""

from __future__ import annotations

import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

import grpc
from google.protobuf import struct_pb2

from controller.emulator.api import ApiError, RpcMethod

ADMIN_SERVICE = "genaiops.emulator.v1.Admin"
_KEYS = ("rate", "fail_next", "latency_ms", "lost_reply", "hold_ms", "code")


class FaultSpecError(ValueError):
    """A fault spec that does not follow the grammar (the message says what and how to fix it)."""


@dataclass
class FaultRule:
    """One rule: which methods, and what happens to their calls."""

    method: str
    rate: float = 0.0
    fail_next: int = 0
    latency_ms: float = 0.0
    lost_reply: float = 0.0
    hold_ms: float = 0.0
    code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE

    def matches(self, full_name: str) -> bool:
        """Whether this rule applies to a call of `full_name` (`pkg.Service/Method` or a JSON API id)."""
        if self.method in ("*", full_name):
            return True
        if "/" in self.method:
            return full_name.endswith("." + self.method)
        return full_name.rpartition("/")[2] == self.method

    def spec(self) -> str:
        """This rule in the spec grammar."""
        parts = [self.method]
        if self.rate:
            parts.append(f"rate={self.rate:g}")
        if self.fail_next:
            parts.append(f"fail_next={self.fail_next}")
        if self.latency_ms:
            parts.append(f"latency_ms={self.latency_ms:g}")
        if self.lost_reply:
            parts.append(f"lost_reply={self.lost_reply:g}")
        if self.hold_ms:
            parts.append(f"hold_ms={self.hold_ms:g}")
        if self.rate or self.fail_next or self.lost_reply:
            parts.append(f"code={self.code.name}")
        return ":".join(parts)


def _number(spec: str, key: str, raw: str, *, integer: bool = False) -> float:
    try:
        value = int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise FaultSpecError(f"fault {spec!r}: {key}={raw!r} is not {kind}") from None
    if value < 0 or not math.isfinite(value):
        raise FaultSpecError(f"fault {spec!r}: {key} must be >= 0, got {raw!r}")
    return value


def parse_fault(spec: str) -> FaultRule:
    """Parse one spec (grammar in the module docstring); raises FaultSpecError with a clear message."""
    method, *settings = (part.strip() for part in spec.strip().split(":"))
    if not method:
        raise FaultSpecError(f"fault {spec!r}: missing METHOD before ':' (use '*' for all methods)")
    if not settings:
        raise FaultSpecError(
            f"fault {spec!r}: no settings; expected METHOD:KEY=VALUE[:KEY=VALUE...] with KEY in {list(_KEYS)}"
        )
    rule = FaultRule(method=method)
    for setting in settings:
        key, sep, raw = setting.partition("=")
        key = key.strip()
        if not sep or key not in _KEYS:
            raise FaultSpecError(f"fault {spec!r}: bad setting {setting!r}; expected KEY=VALUE, KEY in {list(_KEYS)}")
        raw = raw.strip()
        if key in ("rate", "lost_reply"):
            fraction = _number(spec, key, raw)
            if fraction > 1:
                raise FaultSpecError(f"fault {spec!r}: {key} must be between 0 and 1, got {raw!r}")
            setattr(rule, key, fraction)
        elif key == "fail_next":
            rule.fail_next = int(_number(spec, key, raw, integer=True))
        elif key in ("latency_ms", "hold_ms"):
            setattr(rule, key, _number(spec, key, raw))
        else:
            code = grpc.StatusCode.__members__.get(raw.upper())
            if code is None or code is grpc.StatusCode.OK:
                names = [c.name for c in grpc.StatusCode if c is not grpc.StatusCode.OK]
                raise FaultSpecError(f"fault {spec!r}: unknown code {raw!r}; one of {names}")
            rule.code = code
    if not (rule.rate or rule.fail_next or rule.latency_ms or rule.lost_reply or rule.hold_ms):
        raise FaultSpecError(
            f"fault {spec!r}: does nothing; set rate, fail_next, latency_ms, lost_reply or hold_ms above 0"
        )
    return rule


class FaultInjector:
    """The `CallHook` holding the fault rules; thread-safe and changeable while the emulator runs."""

    def __init__(
        self, specs: Iterable[str] = (), *, seed: int = 0, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self._lock = threading.Lock()
        self._rng = random.Random(seed)
        self._sleep = sleep
        self._rules: list[FaultRule] = [parse_fault(s) for s in specs]
        self._released = threading.Event()
        self.injected: dict[str, int] = {}
        self.lost: dict[str, int] = {}  # replies dropped after the call was carried out

    def add(self, spec: str | FaultRule) -> FaultRule:
        """Add a rule (a spec string or a `FaultRule`); returns it."""
        rule = parse_fault(spec) if isinstance(spec, str) else replace(spec)
        with self._lock:
            self._rules.append(rule)
        return rule

    def fail_next(self, method: str, count: int, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE) -> FaultRule:
        """Fail the next `count` calls of `method` with `code`."""
        return self.add(FaultRule(method=method, fail_next=count, code=code))

    def set_error_rate(
        self, method: str, rate: float, code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE
    ) -> FaultRule:
        """Fail a fraction of the calls of `method` (replacing earlier rate rules for it)."""
        with self._lock:
            self._rules = [r for r in self._rules if not (r.method == method and r.rate)]
        return self.add(FaultRule(method=method, rate=rate, code=code))

    def add_latency(self, method: str, latency_ms: float) -> FaultRule:
        """Delay every call of `method`."""
        return self.add(FaultRule(method=method, latency_ms=latency_ms))

    def clear(self, method: str | None = None) -> None:
        """Remove every rule, or the rules written for `method`."""
        with self._lock:
            self._rules = [r for r in self._rules if method is not None and r.method != method]

    def rules(self) -> list[FaultRule]:
        """A snapshot of the rules."""
        with self._lock:
            return [replace(r) for r in self._rules]

    def before_call(self, full_name: str) -> None:
        """The hook: sleep the added latency, then maybe raise the injected error."""
        if full_name.startswith("genaiops.emulator."):
            return
        error: grpc.StatusCode | None = None
        with self._lock:
            matching = [r for r in self._rules if r.matches(full_name)]
            if not matching:
                return
            latency = sum(r.latency_ms for r in matching)
            countdown = next((r for r in matching if r.fail_next > 0), None)
            if countdown is not None:
                countdown.fail_next -= 1
                error = countdown.code
                if countdown.fail_next == 0 and not (countdown.rate or countdown.latency_ms):
                    self._rules.remove(countdown)
            else:
                error = next((r.code for r in matching if r.rate and self._rng.random() < r.rate), None)
            if error is not None:
                self.injected[full_name] = self.injected.get(full_name, 0) + 1
        if latency:
            self._sleep(latency / 1000)
        if error is not None:
            raise ApiError(error, f"Injected fault for {full_name} (emulator fault injection).")

    def after_call(self, full_name: str) -> None:
        """The hook after a call was carried out: hold its reply, then maybe lose it (raise the error)."""
        if full_name.startswith("genaiops.emulator."):
            return
        with self._lock:
            matching = [r for r in self._rules if r.matches(full_name)]
            if not matching:
                return
            hold = sum(r.hold_ms for r in matching)
            lost = next((r.code for r in matching if r.lost_reply and self._rng.random() < r.lost_reply), None)
            if lost is not None:
                self.lost[full_name] = self.lost.get(full_name, 0) + 1
        if hold and not self._released.is_set():
            self._released.wait(hold / 1000)
        if lost is not None:
            raise ApiError(lost, f"Injected lost reply for {full_name}: the call was carried out (emulator fault).")

    def release(self) -> None:
        """Let every held reply go now and hold no more (the emulator is stopping)."""
        self._released.set()


class FaultAdmin:
    """`genaiops.emulator.v1.Admin`: change faults at run time over gRPC (google.protobuf.Struct bodies).

    AddFault {"spec": "M:rate=..."} -> {"rules": [...]}; ClearFaults {"method": optional} -> {"rules": []};
    ListFaults {} -> {"rules": [...]}.
    """

    def __init__(self, injector: FaultInjector) -> None:
        self.injector = injector

    def methods(self) -> Iterable[RpcMethod]:
        """The admin RPCs."""
        s = struct_pb2.Struct
        return [
            RpcMethod(ADMIN_SERVICE, "AddFault", s, s, self._add),
            RpcMethod(ADMIN_SERVICE, "ClearFaults", s, s, self._clear),
            RpcMethod(ADMIN_SERVICE, "ListFaults", s, s, self._list),
        ]

    def _rules(self) -> struct_pb2.Struct:
        body = struct_pb2.Struct()
        body.update({"rules": [r.spec() for r in self.injector.rules()]})
        return body

    def _add(self, request: struct_pb2.Struct) -> struct_pb2.Struct:
        spec = request.fields["spec"].string_value if "spec" in request.fields else ""
        try:
            self.injector.add(spec)
        except FaultSpecError as err:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(err)) from err
        return self._rules()

    def _clear(self, request: struct_pb2.Struct) -> struct_pb2.Struct:
        method = request.fields["method"].string_value if "method" in request.fields else None
        self.injector.clear(method or None)
        return self._rules()

    def _list(self, request: struct_pb2.Struct) -> struct_pb2.Struct:
        return self._rules()
