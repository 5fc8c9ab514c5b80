"""Model registry: one dict, one builder. Adding a model is one file plus one line here."""

MODELS: dict[str, type] = {}
