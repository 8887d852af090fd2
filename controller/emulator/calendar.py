"""The emulator's calendar: the day publisher-model retirement is judged on, settable while it runs.

Gemini models retire on published days (`controller/model/catalogue/publisher_models.yaml`); after a model's
last day the emulator answers calls to it, and to models tuned from it, 404 NOT_FOUND as Vertex AI does.
Which day it is comes from, first to last:

- a day set at run time: `SetToday` over the admin gRPC service, or `Calendar.set`;
- the start day: `Emulator(today=...)`, `running(today=...)`, `genaiops emulator start --today YYYY-MM-DD`;
- the environment variable GENAIOPS_TODAY (read each time the day is asked, so a test can change it);
- the UTC date of the emulator's clock.

Admin RPCs on `genaiops.emulator.v1.Admin` (google.protobuf.Struct bodies, like the fault RPCs, and like them
exempt from fault injection):

    SetToday {"today": "2026-02-06"} -> {"today": "2026-02-06", "source": "set"}
    SetToday {"today": ""}           -> back to the start day / GENAIOPS_TODAY / the clock
    GetToday {}                      -> {"today": "...", "source": "set" | "start" | "GENAIOPS_TODAY" | "clock"}

A malformed day is INVALID_ARGUMENT. `set_emulator_today` / `emulator_today` are the client side of them.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime

import grpc
from google.protobuf import struct_pb2

from controller.emulator.api import ApiError, RpcMethod
from controller.emulator.faults import ADMIN_SERVICE
from controller.model.catalogue.lifecycle import TODAY_ENV, parse_day

_SET_TODAY = f"/{ADMIN_SERVICE}/SetToday"
_GET_TODAY = f"/{ADMIN_SERVICE}/GetToday"


class Calendar:
    """Which day it is for the emulator (see the module docstring for the order); thread-safe."""

    def __init__(self, *, start: date | None = None, clock: Callable[[], float] = time.time) -> None:
        """`start`: a fixed day to begin on (None: GENAIOPS_TODAY, else the UTC date of `clock`). A malformed
        GENAIOPS_TODAY is a ValueError here already, not at the first call."""
        self._start = start
        self._clock = clock
        self._set: date | None = None
        self._lock = threading.Lock()
        self.today_and_source()

    def today(self) -> date:
        """The day retirement is judged on now."""
        return self.today_and_source()[0]

    def today_and_source(self) -> tuple[date, str]:
        """The day, and where it came from: "set", "start", "GENAIOPS_TODAY" or "clock"."""
        with self._lock:
            pinned, start = self._set, self._start
        if pinned is not None:
            return pinned, "set"
        if start is not None:
            return start, "start"
        env = os.environ.get(TODAY_ENV, "").strip()
        if env:
            return parse_day(env, TODAY_ENV), TODAY_ENV
        return datetime.fromtimestamp(self._clock(), UTC).date(), "clock"

    def set(self, day: date | None) -> None:
        """Make `day` today until set again; None goes back to the start day, GENAIOPS_TODAY or the clock."""
        with self._lock:
            self._set = day


class CalendarAdmin:
    """`genaiops.emulator.v1.Admin` SetToday / GetToday over a `Calendar`."""

    def __init__(self, calendar: Calendar) -> None:
        self.calendar = calendar

    def methods(self) -> Iterable[RpcMethod]:
        """The admin RPCs."""
        s = struct_pb2.Struct
        return [
            RpcMethod(ADMIN_SERVICE, "SetToday", s, s, self._set),
            RpcMethod(ADMIN_SERVICE, "GetToday", s, s, self._get),
        ]

    def _get(self, request: struct_pb2.Struct) -> struct_pb2.Struct:
        try:
            day, source = self.calendar.today_and_source()
        except ValueError as err:  # GENAIOPS_TODAY was changed to something malformed since the start
            raise ApiError(grpc.StatusCode.FAILED_PRECONDITION, str(err)) from err
        body = struct_pb2.Struct()
        body.update({"today": day.isoformat(), "source": source})
        return body

    def _set(self, request: struct_pb2.Struct) -> struct_pb2.Struct:
        value = request.fields.get("today")
        if value is None or value.WhichOneof("kind") != "string_value":
            raise ApiError(
                grpc.StatusCode.INVALID_ARGUMENT,
                'SetToday needs {"today": "YYYY-MM-DD"} (an empty string goes back to the default day).',
            )
        text = value.string_value.strip()
        try:
            day = parse_day(text) if text else None
        except ValueError as err:
            raise ApiError(grpc.StatusCode.INVALID_ARGUMENT, str(err)) from err
        self.calendar.set(day)
        return self._get(struct_pb2.Struct())


# -- client side ----------------------------------------------------------------------------------------------


def _admin_call(channel: grpc.Channel, method: str, body: dict[str, str], timeout_s: float) -> date:
    stub = channel.unary_unary(
        method,
        request_serializer=struct_pb2.Struct.SerializeToString,
        response_deserializer=struct_pb2.Struct.FromString,
    )
    request = struct_pb2.Struct()
    request.update(body)
    reply = stub(request, timeout=timeout_s)
    return date.fromisoformat(reply.fields["today"].string_value)


def set_emulator_today(channel: grpc.Channel, day: date | str | None, *, timeout_s: float = 10.0) -> date:
    """Make `day` today in the emulator behind `channel` (None or "": back to its default day); returns the
    day it now judges retirement on. A malformed day raises the grpc.RpcError INVALID_ARGUMENT."""
    text = day.isoformat() if isinstance(day, date) else (day or "")
    return _admin_call(channel, _SET_TODAY, {"today": text}, timeout_s)


def emulator_today(channel: grpc.Channel, *, timeout_s: float = 10.0) -> date:
    """The day the emulator behind `channel` judges retirement on."""
    return _admin_call(channel, _GET_TODAY, {}, timeout_s)
