"""The command line: one module per command group; the only package that imports click."""

from fatectl.cli.main import main

__all__ = ["main"]
