"""`python -m customhouse.secrets`: rule counts, the docs/secrets.md rule table (see rules.main)."""

from __future__ import annotations

from customhouse.secrets.rules import main

raise SystemExit(main())
