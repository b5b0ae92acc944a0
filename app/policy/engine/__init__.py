"""The pure engine: document, conditions, evaluator, timing, fixed safety rules (no I/O)."""
