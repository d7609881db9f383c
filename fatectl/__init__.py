"""fatectl: the operator's tool for a FATE-style federation."""

__version__ = "0.1.0"
