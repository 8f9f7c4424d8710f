"""``team`` commands: users and roles, sign-in, sharing a batch, agreement, resolving conflicts.

The command line is the server operator's: it acts as a lead (``--as NAME`` names the lead a
resolution is recorded for).
"""

from __future__ import annotations

import argparse
import getpass
import sys

from affiliation_curator.cli import command_group
from affiliation_curator.errors import InputError


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = command_group(
        subparsers, "team",
        help="team curation: users, sign-in, sharing a batch, agreement, resolving conflicts",
        description="Team curation: the app's own users and their roles, sign-in, how a batch is shared "
                    "between curators, agreement between them and a lead's resolution of conflicts.",
    )
    users = sub.add_parser("users", help="the app's own user list", description="Add, list and change users.")
    users.set_defaults(handler=lambda _a: (users.print_help(sys.stderr), 2)[1])
    usub = users.add_subparsers(dest="users_command", metavar="SUBCOMMAND")

    p = usub.add_parser("add", help="add a user", description=(
        "Add a user with a role. For the app's own sign-in a password is asked for (at least 8 characters; "
        "--password-stdin reads it from standard input); for OpenID Connect give --email (the address the "
        "provider reports) and no password."))
    p.add_argument("name", metavar="NAME")
    p.add_argument("--role", required=True, choices=("curator", "lead"))
    p.add_argument("--email", metavar="ADDRESS", help="the user's address at the OpenID provider")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.add_argument("--no-password", action="store_true", help="no password (OpenID Connect only)")
    p.set_defaults(handler=cmd_users_add)

    p = usub.add_parser("list", help="list users", description="List users with role, email and state.")
    p.set_defaults(handler=cmd_users_list)

    p = usub.add_parser("set", help="change a user's role, password, email or state",
                        description="Change a user: --role, --password-stdin / --password, --email, --disable / --enable.")
    p.add_argument("name", metavar="NAME")
    p.add_argument("--role", choices=("curator", "lead"))
    p.add_argument("--email", metavar="ADDRESS")
    p.add_argument("--password", action="store_true", help="ask for a new password")
    p.add_argument("--password-stdin", action="store_true", help="read a new password from standard input")
    state = p.add_mutually_exclusive_group()
    state.add_argument("--disable", action="store_true", help="the user can no longer sign in")
    state.add_argument("--enable", action="store_true")
    p.set_defaults(handler=cmd_users_set)

    sessions = sub.add_parser("sessions", help="sign-ins that survive a reload: list them, end a user's",
                              description="Sign-ins of the app's own user list last "
                                          "AFFILIATION_CURATOR_SESSION_HOURS (default 12) without use.")
    sessions.set_defaults(handler=lambda _a: (sessions.print_help(sys.stderr), 2)[1])
    ssub = sessions.add_subparsers(dest="sessions_command", metavar="SUBCOMMAND")
    p = ssub.add_parser("list", help="open sessions: user, started, last used, expires",
                        description="Sessions neither ended nor expired, newest use first.")
    p.add_argument("--user", metavar="NAME", help="only this user's")
    p.set_defaults(handler=cmd_sessions_list)
    p = ssub.add_parser("end", help="end every session of a user (they sign in again; the user stays enabled)",
                        description="Sign a user out on every browser, e.g. a lost laptop. To stop them signing "
                                    "in again, use team users set NAME --disable.")
    p.add_argument("name", metavar="NAME")
    p.set_defaults(handler=cmd_sessions_end)

    p = sub.add_parser("sign-in", help="turn sign-in off or on (users | oidc)", description=(
        "off: a one-person tool (the default); users: the app's own user list; oidc: OpenID Connect through "
        "Streamlit's st.login (configure [auth] in .streamlit/secrets.toml, see the README). Takes effect on the "
        "next page load."))
    p.add_argument("mode", choices=("off", "users", "oidc"))
    p.set_defaults(handler=cmd_sign_in)

    p = sub.add_parser("share", help="how a batch is shared between curators", description=(
        "all: every curator labels every item. split: the items are handed out between the --curators, a "
        "--double share of them (e.g. 0.1) to two curators for the agreement figures."))
    p.add_argument("--batch", required=True, metavar="NAME")
    p.add_argument("--mode", required=True, choices=("all", "split"))
    p.add_argument("--curators", default="", metavar="A,B,...", help="comma-separated names (split)")
    p.add_argument("--double", type=float, default=0.0, metavar="SHARE", help="share labelled twice, 0 to 1 (split)")
    p.add_argument("--claim-minutes", type=float, default=15.0, help="a claim on an item runs out after (default 15)")
    p.set_defaults(handler=cmd_share)

    p = sub.add_parser("agreement", help="agreement per pair of curators, kappa, pace and conflicts", description=(
        "Per pair of curators: the double-labelled items, the share that agree and Cohen's kappa (Fleiss' kappa "
        "with three or more curators), decisions per hour per curator, and the conflicts."))
    p.add_argument("--batch", required=True, metavar="NAME")
    p.add_argument("--rule", choices=("leave_out", "majority"), default="leave_out",
                   help="what counts where curators disagree and no lead resolved it (default leave_out)")
    p.set_defaults(handler=cmd_agreement)

    p = sub.add_parser("resolve", help="resolve a conflict as a lead", description=(
        "Record a lead's resolution of an item: --label accept:<ROR id> or none. It is a decision of its own, "
        "beside the curators' decisions."))
    p.add_argument("--batch", required=True, metavar="NAME")
    p.add_argument("--item", required=True, type=int, metavar="ID", help="item id (team agreement lists them)")
    p.add_argument("--label", required=True, metavar="LABEL")
    p.add_argument("--as", dest="lead", required=True, metavar="LEAD", help="the lead the resolution is recorded for")
    p.set_defaults(handler=cmd_resolve)

    p = sub.add_parser("unresolve", help="undo a lead's latest resolution in a batch", description=(
        "Take back the latest resolution the lead recorded in the batch (the Team page's Undo); the conflict is "
        "open again. The lead's own curation decisions are left alone."))
    p.add_argument("--batch", required=True, metavar="NAME")
    p.add_argument("--as", dest="lead", required=True, metavar="LEAD", help="the lead whose resolution is undone")
    p.set_defaults(handler=cmd_unresolve)


def _store():  # noqa: ANN202
    from affiliation_curator.curation.store import Store

    return Store()


def _batch_id(store, name: str) -> int:  # noqa: ANN001
    info = store.batch_by_name(name)
    if info is None:
        names = ", ".join(repr(b.name) for b in store.batches()) or "(none yet)"
        raise InputError(f"no batch {name!r}; batches: {names}")
    return info.id


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        value = getpass.getpass("password: ")
        if getpass.getpass("again: ") != value:
            raise InputError("the two passwords differ; nothing was changed")
    else:
        raise InputError("no terminal to ask the password on: pipe it with --password-stdin")
    return value


def _operator():  # noqa: ANN202 - the command line is the server operator's, a lead
    from affiliation_curator.team.users import Identity

    return Identity(getpass.getuser() or "operator", "lead")


def cmd_users_add(args: argparse.Namespace) -> int:
    from affiliation_curator.team.users import add_user

    if args.no_password and not args.email:
        raise InputError("a user without a password signs in through OpenID Connect: give their --email")
    password = None if args.no_password else _password(args)
    info = add_user(_store(), args.name, args.role, password=password, email=args.email)
    print(f"added {info.name} ({info.role})" + (f", {info.email}" if info.email else ""))
    return 0


def cmd_users_list(args: argparse.Namespace) -> int:
    from affiliation_curator.team.users import sign_in_mode, users

    rows = users(_store())
    print(f"sign-in: {sign_in_mode()}")
    if not rows:
        print("no users yet (team users add NAME --role curator|lead)")
        return 0
    print(f"{'name':<24} {'role':<8} {'password':<8} {'state':<8} email")
    for u in rows:
        print(f"{u.name[:24]:<24} {u.role:<8} {'set' if u.has_password else '-':<8} "
              f"{'disabled' if u.disabled else 'active':<8} {u.email or ''}")
    return 0


def cmd_users_set(args: argparse.Namespace) -> int:
    from affiliation_curator.team.users import update_user

    password = _password(args) if (args.password or args.password_stdin) else None
    disabled = True if args.disable else (False if args.enable else None)
    info = update_user(_store(), args.name, role=args.role, password=password, disabled=disabled, email=args.email)
    print(f"{info.name}: {info.role}, {'disabled' if info.disabled else 'active'}"
          + (", password set" if info.has_password else "") + (f", {info.email}" if info.email else ""))
    return 0


def cmd_sessions_list(args: argparse.Namespace) -> int:
    from affiliation_curator.team.sessions import open_sessions

    rows = open_sessions(_store(), args.user)
    if not rows:
        print("no open sessions" + (f" of {args.user}" if args.user else ""))
        return 0
    when = lambda t: t.strftime("%Y-%m-%d %H:%M UTC")  # noqa: E731
    print(f"{'user':<24} {'started':<20} {'last used':<20} expires")
    for r in rows:
        print(f"{r.user_name[:24]:<24} {when(r.created_at):<20} {when(r.last_seen_at):<20} {when(r.expires_at)}")
    return 0


def cmd_sessions_end(args: argparse.Namespace) -> int:
    from affiliation_curator.team.sessions import end_all
    from affiliation_curator.team.users import users

    store = _store()
    if not any(u.name.lower() == args.name.lower() for u in users(store)):
        raise InputError(f"no user named {args.name!r} (team users list)")
    ended = end_all(store, args.name)
    print(f"ended {ended} session{'s' if ended != 1 else ''} of {args.name}")
    return 0


def cmd_sign_in(args: argparse.Namespace) -> int:
    from affiliation_curator.team.users import set_sign_in_mode, users

    set_sign_in_mode(args.mode)
    print(f"sign-in: {args.mode}")
    if args.mode != "off" and not any(u.role == "lead" and not u.disabled for u in users(_store())):
        print("note: no lead on the user list yet; add one: team users add NAME --role lead", file=sys.stderr)
    return 0


def cmd_share(args: argparse.Namespace) -> int:
    from affiliation_curator.team.sharing import set_sharing

    store = _store()
    names = [n.strip() for n in args.curators.split(",") if n.strip()]
    shared = set_sharing(store, _operator(), _batch_id(store, args.batch), args.mode, names, args.double,
                         args.claim_minutes)
    if shared.mode == "split":
        print(f"split between {', '.join(shared.curators)}; {shared.double_items:,} items labelled twice; "
              f"claims run out after {shared.claim_minutes:g} minutes")
    else:
        print("every curator sees every item")
    return 0


def cmd_agreement(args: argparse.Namespace) -> int:
    from affiliation_curator.team.report import agreement_text, batch_agreement

    store = _store()
    print(agreement_text(batch_agreement(store, _batch_id(store, args.batch), args.rule)))
    return 0


def cmd_resolve(args: argparse.Namespace) -> int:
    from affiliation_curator.team.report import resolve_conflict
    from affiliation_curator.team.users import Identity, user

    store = _store()
    batch_id = _batch_id(store, args.batch)
    if store.item(args.item).batch_id != batch_id:
        raise InputError(f"item {args.item} is not in batch {args.batch!r}")
    lead = user(store, args.lead) if _has_users(store) else None
    actor = Identity(lead.name, lead.role) if lead is not None else Identity(args.lead, "lead")
    resolve_conflict(store, actor, args.item, args.label)
    print(f"resolved item {args.item}: {args.label} (by {actor.name})")
    return 0


def cmd_unresolve(args: argparse.Namespace) -> int:
    from affiliation_curator.team.report import undo_resolution
    from affiliation_curator.team.users import Identity, user

    store = _store()
    batch_id = _batch_id(store, args.batch)
    lead = user(store, args.lead) if _has_users(store) else None
    actor = Identity(lead.name, lead.role) if lead is not None else Identity(args.lead, "lead")
    result = undo_resolution(store, actor, batch_id)
    print("no resolution of yours to undo" if result is None else f"undone: {result.description}")
    return 0


def _has_users(store) -> bool:  # noqa: ANN001
    from affiliation_curator.team.users import users

    return bool(users(store))
