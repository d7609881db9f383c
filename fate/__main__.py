"""`python -m fate <role>`: start one engine role (router, flow, worker)."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print("usage: python -m fate {router|flow|worker} [options]")
        return 0 if args else 2
    print(f"unknown role {args[0]!r}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
