"""fate: the federated learning engine that runs inside every party."""

__version__ = "0.1.0"
