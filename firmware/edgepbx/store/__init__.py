"""Durable records in SQLite; nothing else in the box touches SQL."""
from edgepbx.store.db import CallRecord, Store

__all__ = ["CallRecord", "Store"]
