"""Prompt management: strict rendering, content-addressed versions, the prompt store port and publishing,
plans (template and config diffs), the assertion test runner with JUnit XML, and the runtime client.

Pure: nothing here imports google.* or the providers; the Cloud Storage and local stores and the live
model live in `controller.providers.prompt_store` / `prompt_live`, wired by `controller.cli.prompts_cmd`.
Flow: loader -> `source.sources_of` -> `render` / `testing.run_tests` / `plan.plan_prompts` ->
`plan.apply_prompt_plan` (through a `store.PromptStore`) -> `client.PromptClient` in applications.
"""
