"""Suite-wide settings: the calendar day lifecycle checks are judged on.

Foundation models retire on dated days (controller/model/catalogue/publisher_models.yaml), so a check that
reads the real date would turn a passing suite red the day a model in a test retires. Every test, and every
process a test starts (the CLI, `genaiops emulator start`, the demo), sees GENAIOPS_TODAY instead: a day on
which no model the tests name is retired or retiring within the default 60-day horizon. Tests about the
lifecycle itself set the day they need (tests/lifecycle/); the demo test runs on the catalogue's own date.
"""

from __future__ import annotations

import os

SUITE_TODAY = "2025-06-01"
os.environ.setdefault("GENAIOPS_TODAY", SUITE_TODAY)
