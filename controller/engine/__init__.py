"""The engine: effects, in order, decided by the pure core. `apply.apply_changes` is the one apply routine
(lock, plan via `planning`, execute every operation via `executor` and `steps`, advance rollouts via
`rollout_driver`, audit) that `apply`, `apply PLANFILE`, `reconcile`, `demo` and `prompts publish` call;
`reconciler` runs it as the GitOps loop. Every effect goes through the ports of a `session.Session`."""
