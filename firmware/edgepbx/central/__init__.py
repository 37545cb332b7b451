"""The link to the central call center: is it there, and where do calls go."""
