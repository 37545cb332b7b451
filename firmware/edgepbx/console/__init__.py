"""The technician serial console: line editing, session, commands, the pyserial edge."""
