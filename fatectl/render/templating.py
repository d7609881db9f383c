"""The Jinja2 environment shared by the helm-values and compose renderers."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jinja2

from fatectl.resources import templates_root


def quote(value: Any) -> str:
    """A value as a one-line YAML flow scalar/collection (JSON is valid YAML), keys sorted."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


@cache
def environment(root: Path | None = None) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root or templates_root())),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # YAML, not HTML; every value passes through `q`
    )
    env.filters["q"] = quote
    return env


def render_template(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)
