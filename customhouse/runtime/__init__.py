"""Runtime detection: event sources -> Falco-compatible rule engine -> alerts -> responses.

- `events`: the `Event` model every source produces, and its JSON-lines form (replay and record
  files, docs/runtime-events.md);
- `rules`: rule files in Falco's format, the condition language compiled to closures, the field
  registry, the engine that indexes rules by event type (docs/runtime-rules.md);
- `output`: alerts as text or JSON lines in Falco's output shape;
- `cli`: `customhouse runtime replay|rules check`.

Nothing here imports YAML or other heavy modules at import time.
"""

from __future__ import annotations
