"""Federations for the lab tests, built through the real loader from generated spec text."""

from __future__ import annotations

from pathlib import Path

from fatectl.spec.loader import load_federation
from fatectl.spec.model import Federation
from fatectl.spec.sample import generate_spec_text
from fatectl.spec.schema import HOST_PORT_BASE


def write_spec(
    directory: Path, n_parties: int, exchange: bool, name: str, port_offset: int = 0, key_bits: int = 1024,
    ray_workers: int = 0,
) -> Path:
    """A generated spec whose compose host ports are moved by `port_offset`, so labs coexist.

    Labs run jobs unattended, so every party's policy lets the other parties' jobs run and accepts
    the lab's small keys: explicitly here, the defaults stay secure.
    """
    text = generate_spec_text(
        n_parties, exchange, name=name, key_bits=key_bits, host_port_base=HOST_PORT_BASE + port_offset,
        lab_policy=True, ray_workers=ray_workers,
    )
    path = directory / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def federation(
    directory: Path, n_parties: int = 2, exchange: bool = False, name: str = "lab-test", port_offset: int = 0
) -> Federation:
    return load_federation(write_spec(directory, n_parties, exchange, name, port_offset))
