"""The analog line: FXO interface (ring detect, hook relay, line audio) as a call leg."""
