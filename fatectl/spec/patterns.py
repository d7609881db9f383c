"""Regular expressions of the spec's string fields, and what each means in words (for errors and docs)."""

from __future__ import annotations

DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_SUBDOMAIN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*"
# Cerberus appends "$" to a pattern, so any alternation must be grouped.
HOST = r"(?:[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)*|[0-9a-fA-F:]*:[0-9a-fA-F:.]+)"
QUANTITY = r"[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?"
IMAGE = r"[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*"
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
REGISTRY = r"([A-Za-z0-9][-A-Za-z0-9.]*(:[0-9]+)?(/[a-z0-9._-]+)*)?"
LABEL_KEY = r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
PLAIN_NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"  # as the flow checks table and job names
# host:port of a Ray cluster's GCS, or a Ray Client URL ray://host:port (the port range is a rule).
RAY_ADDRESS = rf"(?:ray://)?{HOST}:[0-9]{{1,5}}"

# What a regex means, in words, for error messages.
PATTERNS: dict[str, str] = {
    DNS_LABEL: "a DNS label: lowercase letters, digits and '-', starting and ending with a letter or digit",
    DNS_SUBDOMAIN: "a DNS name: lowercase letters, digits, '-' and '.'",
    HOST: "a host name or IP address",
    QUANTITY: "a Kubernetes quantity such as 500m, 2, 512Mi or 10Gi",
    IMAGE: "an image name: lowercase letters, digits, '.', '_', '-' and '/'",
    TAG: "an image tag: letters, digits, '_', '.', '-' (at most 128)",
    REGISTRY: "a registry host[:port][/path], or empty",
    LABEL_KEY: "a Kubernetes label key such as kubernetes.io/os",
    LABEL_VALUE: "a Kubernetes label value (letters, digits, '-', '_', '.')",
    PLAIN_NAME: "a name: letters, digits, '_', '.', '-' (up to 64), starting with a letter or digit",
    RAY_ADDRESS: "host:port of a Ray cluster, or ray://host:port",
}

_SUFFIXES = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18,
             "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity_value(value: object) -> float | None:
    """A Kubernetes quantity as a number (512Mi -> 536870912.0); None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    text = str(value)
    suffix = next((s for s in sorted(_SUFFIXES, key=len, reverse=True) if text.endswith(s)), "")
    try:
        return float(text[: len(text) - len(suffix)]) * _SUFFIXES.get(suffix, 1)
    except ValueError:
        return None
