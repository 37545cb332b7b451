"""Durable records in SQLite; nothing else in the box touches SQL."""
from edgepbx.store.db import RECORD_KINDS, CallRecord, DirectoryEntry, Store

__all__ = ["RECORD_KINDS", "CallRecord", "DirectoryEntry", "Store"]
