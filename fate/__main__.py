"""`python -m fate <role>`: start one engine role, or check that a local one is healthy.

    python -m fate router --config router.yaml
    python -m fate flow --config flow.yaml
    python -m fate board --config board.yaml
    python -m fate check router|flow|board --config FILE    # exit 0 when the local service answers healthy

Every role takes `--log-format text|json` (fate.logs).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from fate import logs

USAGE = "usage: python -m fate {router|flow|board|check} [options]"


def _router(argv: list[str]) -> int:
    from fate.federation.config import load_router_config
    from fate.federation.router import start_router
    from fate.federation.transport import TransportError

    # A reload (SIGHUP) sent while we still start must not kill us; the real handler comes below.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    parser = argparse.ArgumentParser(prog="python -m fate router")
    parser.add_argument("--config", required=True, help="router.yaml")
    logs.add_argument(parser)
    args = parser.parse_args(argv)
    logs.configure(args.log_format)
    config = load_router_config(args.config)

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        running = await start_router(config)

        def reload() -> None:
            # SIGHUP: new routes (party added or removed) and TLS files, without a restart.
            try:
                fresh = load_router_config(args.config)
            except TransportError as err:
                logging.getLogger("fate.router").warning("reload refused, keeping the running config: %s", err)
                running.router.tls_state.refresh(force=True)
                return
            running.router.reload(fresh)

        loop.add_signal_handler(signal.SIGHUP, reload)
        try:
            await stop.wait()
        finally:
            await running.stop()

    asyncio.run(serve())
    return 0


def _flow(argv: list[str]) -> int:
    # Imported on demand: the router image path must not pay for (or depend on) flow's imports.
    from fate.flow.server import main as flow_main

    return int(flow_main(argv) or 0)


def _board(argv: list[str]) -> int:
    from fate.board.server import main as board_main

    return int(board_main(argv) or 0)


def _check(argv: list[str]) -> int:
    from fate.federation.health import check_flow, check_router

    parser = argparse.ArgumentParser(prog="python -m fate check")
    parser.add_argument("service", choices=["router", "flow", "board"])
    parser.add_argument("--config", required=True)
    parser.add_argument("--timeout", type=float, default=5.0)
    logs.add_argument(parser)
    args = parser.parse_args(argv)
    logs.configure(args.log_format)
    if args.service == "board":
        from fate.board.health import check_board

        check = check_board
    else:
        check = check_router if args.service == "router" else check_flow
    problem = check(args.config, args.timeout)
    if problem:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    return 0


ROLES = {"router": _router, "flow": _flow, "board": _board, "check": _check}


def main(argv: list[str] | None = None) -> int:
    from fate.federation.transport import TransportError

    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in {"-h", "--help"}:
        print(USAGE)
        return 0 if args else 2
    command = ROLES.get(args[0])
    if command is None:
        print(f"unknown role {args[0]!r}\n{USAGE}", file=sys.stderr)
        return 2
    try:
        return command(args[1:])
    except TransportError as err:  # the federation root: config, TLS files, ...
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
