"""The engine: effects, in order. Observe live state through the ports, execute plans with retries,
drive rollouts, and (later) loop as the reconciler. Decisions come from the pure core."""
