"""Certificates over their whole life: issue, trust bundles and CRLs, expiry, rotation,
revocation, and distributed provisioning (a party's key never leaves its own directory)."""
