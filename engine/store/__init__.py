"""The local SQLite results store."""
from engine.store.db import SCHEMA_VERSION, ResultsStore

__all__ = ["ResultsStore", "SCHEMA_VERSION"]
