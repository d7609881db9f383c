"""Offline bundles for air-gapped sites: create, verify, load (one signed, checksummed tar)."""
