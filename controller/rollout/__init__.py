"""Rollout: the pure heart of canary delivery. Strategy compilation (steps -> integer splits), rollout
state (endpoint labels <-> frozen state), analysis verdicts, typed reasons (why a rollout moved, paused
or rolled back), and `next_transition`, the state machine."""
