"""What the test modules share, one module per kind of test data.

- `inline`: case files that state their expected diagnostics inline, on the line they are about.
- `goldens`: files that hold what the code produced when it was last right (`--update-golden`).
- `scenarios`: folders of desired files plus `live.yml` / `state.yml`, read into the observed and
  recorded types a plan compares.
- `fake_provider` (with `fake_templates`): an in-memory AWS for fast apply → observe → re-plan
  runs; `memory_state`: a state writer in memory.
- `emulated`: boto3 clients inside the emulator's accounts, to check what orgc did there.
"""
