"""``ivr users ...``: operator and administrator accounts for the web app.

``ivr users add NAME --role operator|admin [--password-stdin]`` reads the password from
standard input (first line) or asks for it twice on the terminal; it is hashed with
argon2 before it reaches the store.
"""

from __future__ import annotations

import argparse
import getpass
import sys

from ivr.web.auth import ROLES, check_password, hash_password


def register(subparsers) -> None:
    users = subparsers.add_parser("users", help="web app accounts (operators, administrators)")
    sub = users.add_subparsers(dest="users_command", metavar="ACTION", required=True)
    p = sub.add_parser("add", help="create an account")
    p.add_argument("name")
    p.add_argument("--role", choices=ROLES, required=True)
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=_cmd_add)
    p = sub.add_parser("passwd", help="set an account's password (ends its sessions)")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(func=_cmd_passwd)
    p = sub.add_parser("disable", help="stop an account from signing in")
    p.add_argument("name")
    p.set_defaults(func=lambda a: _cmd_enable(a, disabled=True))
    p = sub.add_parser("enable", help="let a disabled account sign in again")
    p.add_argument("name")
    p.set_defaults(func=lambda a: _cmd_enable(a, disabled=False))
    p = sub.add_parser("list", help="list accounts")
    p.set_defaults(func=_cmd_list)


def _store():
    from ivr.config import get_settings
    from ivr.store.sql import SqlStore

    return SqlStore.from_settings(get_settings())


def _read_password(from_stdin: bool) -> str | None:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Password: ")
        if getpass.getpass("Again: ") != password:
            print("ivr: the passwords differ", file=sys.stderr)
            return None
    try:
        check_password(password)
    except ValueError as exc:
        print(f"ivr: {exc}", file=sys.stderr)
        return None
    return password


def _valid_name(name: str) -> bool:
    return 0 < len(name) <= 100 and name.strip() == name and name.isprintable()


def _cmd_add(args: argparse.Namespace) -> int:
    if not _valid_name(args.name):
        print("ivr: a user name must be 1-100 printable characters without leading/trailing spaces", file=sys.stderr)
        return 2
    store = _store()
    if store.get_user(args.name) is not None:
        print(f"ivr: user {args.name!r} already exists (use 'ivr users passwd')", file=sys.stderr)
        return 1
    password = _read_password(args.password_stdin)
    if password is None:
        return 2
    store.create_user(args.name, args.role, hash_password(password), by="cli")
    print(f"created {args.role} {args.name!r}")
    return 0


def _cmd_passwd(args: argparse.Namespace) -> int:
    store = _store()
    if store.get_user(args.name) is None:
        print(f"ivr: no user {args.name!r}", file=sys.stderr)
        return 1
    password = _read_password(args.password_stdin)
    if password is None:
        return 2
    store.update_user(args.name, by="cli", password_hash=hash_password(password))
    print(f"password of {args.name!r} changed")
    return 0


def _cmd_enable(args: argparse.Namespace, *, disabled: bool) -> int:
    store = _store()
    if store.get_user(args.name) is None:
        print(f"ivr: no user {args.name!r}", file=sys.stderr)
        return 1
    store.update_user(args.name, by="cli", disabled=disabled)
    print(f"{args.name!r} {'disabled' if disabled else 'enabled'}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    for u in _store().list_users():
        print(f"{u.name:30} {u.role:9} {'disabled' if u.disabled else ''}")
    return 0
