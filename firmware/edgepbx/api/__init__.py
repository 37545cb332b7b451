"""The sync API central operations use to keep a fleet of boxes in step (FastAPI, in-process)."""
