"""`wattbook admin create-operator`: make a console operator (the first administrator).

The password is read from ``--password-file`` or asked for twice on the terminal; it is never
an argument, which the process list would show.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
from pathlib import Path

from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit

ROLES = ("administrator", "cashier", "engineer", "viewer")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `admin` sub-command and its commands to the parser."""
    tools = _args.add_command(sub, "admin", help="administer the staff console's operators")
    commands = tools.add_subparsers(dest="admin_command", metavar="COMMAND", required=True)
    create = _args.add_command(
        commands,
        "create-operator",
        help="create a console operator (the first administrator)",
        exits=(Exit.BAD_INPUT,),
        database=True,
    )
    create.add_argument("login", metavar="LOGIN", help="the login name, e.g. wang.li")
    create.add_argument("--name", required=True, help="the operator's full name")
    create.add_argument("--role", choices=ROLES, default="administrator", help="the role")
    create.add_argument(
        "--password-file", type=Path, help="read the password from this file's first line"
    )
    create.add_argument("--by", default=None, help="who does it (default: the login name)")
    create.set_defaults(handler=_create)


def _by(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _password(args: argparse.Namespace) -> str:
    if args.password_file is not None:
        try:
            lines = args.password_file.read_text(encoding="utf-8").splitlines()
        except OSError as error:
            raise CommandFailed(
                f"cannot read {args.password_file}: {error.strerror or error}", Exit.BAD_INPUT
            ) from error
        return lines[0] if lines else ""
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise CommandFailed("the two passwords differ", Exit.BAD_INPUT)
    return first


def _create(args: argparse.Namespace) -> int:
    """Create the operator and say so."""
    from wattbook import bootstrap
    from wattbook.application.staff import operators
    from wattbook.application.staff import ports as staff_ports
    from wattbook.domain import staff

    password = _password(args)
    storage = bootstrap.build_storage(_args.settings(args))
    try:
        operator = asyncio.run(
            operators.create_operator(
                uow=storage.uow_factory(),
                clock=storage.clock,
                hasher=bootstrap.password_hasher(),
                login=args.login,
                name=args.name,
                role=staff.Role(args.role.upper()),
                password=password,
                by=_by(args),
                channel="CLI",
            )
        )
    except staff_ports.DuplicateOperator as error:
        raise CommandFailed(f"an operator {error} exists already", Exit.BAD_INPUT) from error
    except ValueError as error:  # a bad login name, an empty name, a weak password
        raise CommandFailed(str(error), Exit.BAD_INPUT) from error
    finally:
        storage.close()
    print(f"operator {operator.login} ({operator.name}, {operator.role.value.lower()}) created")
    return Exit.OK
