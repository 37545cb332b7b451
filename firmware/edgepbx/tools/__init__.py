"""Command-line helpers for technicians and tests: a SIP caller and a stand-in central."""
