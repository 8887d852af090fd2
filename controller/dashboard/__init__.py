"""The read-only web dashboard (`genaiops dashboard`, and `reconcile --ui`): rollouts, experiments, prompts,
cost and the audit log, with plots, updated live.

A layer of its own between the CLI and the engine: `page_data.py` gathers page data through the engine's
session (the same plan, rollout records, metrics, prompt store and audit log the commands use) into the
JSON shapes of `shapes.py`; `routes.py` routes a request to JSON, a static asset or the server-sent event stream;
`web_server.py` serves it over HTTP (loopback without login; beyond loopback only with a token). The pages are
static files (`static/`: HTML, CSS, plain JavaScript drawing SVG; no framework, no build step) shipped in
the package. Nothing here changes anything in the cloud: actions stay in the CLI and git.
"""
