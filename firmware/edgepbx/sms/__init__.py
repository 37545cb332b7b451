"""Text messages through a cellular modem: PDUs, the AT modem, the queue and the text line."""
