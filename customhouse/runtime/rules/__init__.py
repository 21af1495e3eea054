"""Falco-compatible rules: files, the condition language, fields, and the engine.

    from customhouse.runtime.rules import load_rules
    ruleset = load_rules(["my_rules.yaml"])          # the default ruleset, then my_rules.yaml
    for alert in ruleset.engine.run(events):
        ...

See docs/runtime-rules.md for the language, the fields and the default ruleset.
"""

from __future__ import annotations

from customhouse.runtime.rules.engine import PRIORITIES, Alert, CompiledRule, Engine, priority_level
from customhouse.runtime.rules.loader import DEFAULT_RULES, ENGINE_VERSION, Loader, RuleError, RuleSet, load_rules

__all__ = [
    "DEFAULT_RULES",
    "ENGINE_VERSION",
    "PRIORITIES",
    "Alert",
    "CompiledRule",
    "Engine",
    "Loader",
    "RuleError",
    "RuleSet",
    "load_rules",
    "priority_level",
]
