"""Compute backends: where a party's ciphertext work runs (local processes, or a Ray cluster of its own)."""
