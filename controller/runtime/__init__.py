"""The runtime client applications call on every request (prompt + model call + cache + tokens and cost +
monitoring + feedback + safety). Public import path: `controller.runtime`; see docs/runtime.md."""
