"""The federation spec: schema (data), loader (positions), model (frozen objects)."""
