"""The local IVR: flow documents, the I/O-free engine, and the prompt catalogue."""
