"""edgepbx: firmware for an edge PBX appliance that answers every call."""

__version__ = "0.1.0"
