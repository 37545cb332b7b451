"""The front panel: status LEDs (and, later, the button and the transfer relay), via gpiozero."""
