"""``serve``: the engine as an HTTP service (ROR API v2 matching, OpenRefine reconciliation).

    python -m affiliation_curator serve [--host 127.0.0.1] [--port 9292] [--registry R] [--model M]

Binds to localhost unless ``--host`` says otherwise. The registry and model are chosen as for
``match`` (``commands_match.build_matcher``); the service reads them only and needs no database.
"""

from __future__ import annotations

import argparse
import ipaddress
import socket
import sys

from affiliation_curator.cli.match import add_engine_arguments, build_matcher
from affiliation_curator.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "serve",
        help="serve the engine over HTTP: ROR-API-compatible matching and an OpenRefine reconciliation service",
        description=(
            "Serve the matching engine over HTTP. GET /v2/organizations?affiliation=STRING answers like ROR's API "
            "v2 (also at /organizations); GET /v2/organizations/ID returns a record; /reconcile is a W3C "
            "reconciliation service for OpenRefine; /health and / say which registry and model answer. "
            "Requests are bounded: 2,000 characters a query, 100 queries a batch, 1 MiB a body, and a rate "
            "per client address (--rate, --burst)."
        ),
    )
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=9292, help="port (default 9292)")
    add_engine_arguments(p)
    p.add_argument("--rate", type=float, default=20.0, metavar="N",
                   help="requests a second per client address (default 20; 0: no limit)")
    p.add_argument("--burst", type=int, default=40, metavar="N", help="requests a client may send at once (default 40)")
    p.set_defaults(handler=cmd_serve)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_port(host: str, port: int) -> None:
    """A clear one-line error when the port cannot be bound (before the model is loaded)."""
    if not 1 <= port <= 65535:
        raise InputError(f"--port {port}: give a port from 1 to 65535")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as err:
        raise InputError(f"--host {host}: {err.strerror}") from None
    family, _type, _proto, _name, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as err:
            raise InputError(f"cannot listen on {host}:{port}: {err.strerror} (another --port?)") from None


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from affiliation_curator.service import RateLimiter, create_app
        from affiliation_curator.service.limits import MAX_LIMIT
    except ImportError as err:
        raise InputError(f"serve needs FastAPI and uvicorn ({err.name} is missing): pip install -r requirements.txt") from None
    _check_port(args.host, args.port)
    if args.burst < 1:
        raise InputError("--burst must be at least 1")
    matcher = build_matcher(args, top_k=MAX_LIMIT)
    app = create_app(matcher, RateLimiter(args.rate, args.burst))
    shown = f"[{args.host}]" if ":" in args.host else args.host
    if not _is_loopback(args.host):
        print(f"note: listening on {args.host}, reachable from other machines; the service has no login",
              file=sys.stderr)
    print(f"serving on http://{shown}:{args.port}/  (OpenRefine: http://{shown}:{args.port}/reconcile; "
          f"threshold {matcher.threshold:.3f}; Ctrl+C stops)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0
