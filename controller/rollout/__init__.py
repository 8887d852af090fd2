"""Rollout: the pure heart of canary delivery. Strategy compilation (steps -> integer splits), rollout
state (endpoint labels <-> frozen state), analysis verdicts, and `next_transition`, the state machine."""
