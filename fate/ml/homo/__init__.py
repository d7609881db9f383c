"""Horizontal (homo) federated learning: clients with the same columns, an aggregator combining their models."""
