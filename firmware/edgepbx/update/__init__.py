"""Firmware updates that cannot brick a box: signed bundles, A/B releases, a launcher that
tries a new release and switches back by itself (see README "Firmware updates")."""
