"""Specs from other tools' deployment files (KubeFATE's cluster.yaml)."""
