"""Prompt management: strict rendering, content-addressed versions, the prompt store port and publishing,
plans (template and config diffs), the assertion test runner with JUnit XML, and the runtime client.

Pure: nothing here imports google.* or the providers; the Cloud Storage and local stores and the live
model live in `controller.providers.prompt_store` / `prompt_live`, wired by `controller.cli.prompts_cmd`.
Flow: loader -> `source.sources_of` -> `render` / `testing.run_tests` / `prompt_plan.plan_prompts` (a
prompt's changes as Plan operations: publish a version, move labels) -> the engine's executor carries
them out through a `store.PromptStore`, like every other operation -> `client.PromptClient` in
applications.
"""
