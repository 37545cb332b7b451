"""The pjsua2 edge: one thread owns pjsua2; events hop to asyncio, commands hop back."""
