"""`wattbook api token create | list | revoke`: the JSON API's tokens, with their scopes.

A token is printed once, when it is made; only its hash is stored. Revoking is immediate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit

SCOPES = ("accounts", "balances", "readings", "payments", "alarms")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `api` sub-command to the parser."""
    parser = _args.add_command(sub, "api", help="manage the JSON API's tokens (/api/v1)")
    actions = parser.add_subparsers(dest="api_action", metavar="ACTION", required=True)
    token = _args.add_command(actions, "token", help="create, list or revoke API tokens")
    token_actions = token.add_subparsers(dest="token_action", metavar="ACTION", required=True)

    create = _args.add_command(
        token_actions,
        "create",
        help="make a token for one of the campus's systems; it is printed once",
        description="Make a token for one of the campus's systems. The token is printed "
        "once and only its hash is stored: hand it to the system now. Scopes: "
        + ", ".join(SCOPES)
        + ", or all.",
        database=True,
    )
    create.add_argument("name", metavar="NAME", help="which system the token is for")
    create.add_argument(
        "--scope",
        action="append",
        required=True,
        metavar="SCOPE",
        help="what it may reach (repeat, or comma-separate); 'all' for every scope",
    )
    create.add_argument("--by", required=True, metavar="NAME", help="who makes the token")
    create.add_argument("--json", action="store_true", help="print JSON")
    create.set_defaults(handler=_create)

    list_ = _args.add_command(
        token_actions, "list", help="list the tokens (never their secrets)", database=True
    )
    list_.add_argument("--json", action="store_true", help="print JSON")
    list_.set_defaults(handler=_list)

    revoke = _args.add_command(
        token_actions,
        "revoke",
        help="revoke a token: it answers nothing from now on",
        database=True,
    )
    revoke.add_argument("token_id", metavar="ID", type=_args.positive_int(maximum=2**31 - 1))
    revoke.add_argument("--by", required=True, metavar="NAME", help="who revokes it")
    revoke.set_defaults(handler=_revoke)


def _token_json(token: Any) -> dict[str, Any]:
    return {
        "id": token.id,
        "name": token.name,
        "prefix": token.prefix,
        "scopes": sorted(scope.value for scope in token.scopes),
        "created_at": token.created_at.isoformat(),
        "created_by": token.created_by,
        "revoked_at": None if token.revoked_at is None else token.revoked_at.isoformat(),
        "revoked_by": token.revoked_by,
    }


def _create(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.application.api.ports import InvalidTokenRequest

    try:
        made = asyncio.run(
            bootstrap.create_api_token(
                settings=_args.settings(args), name=args.name, scopes=args.scope, by=args.by
            )
        )
    except InvalidTokenRequest as error:
        raise CommandFailed(str(error), Exit.BAD_INPUT) from error
    if args.json:
        print(json.dumps({**_token_json(made.token), "token": made.secret}, ensure_ascii=False))
        return Exit.OK
    scopes = " ".join(sorted(scope.value for scope in made.token.scopes))
    print(made.secret)
    print(
        f"token {made.token.id} for {made.token.name} ({scopes}); shown once, only its hash "
        "is kept: hand it over now",
        file=sys.stderr,
    )
    return Exit.OK


def _list(args: argparse.Namespace) -> int:
    from wattbook import bootstrap

    tokens = asyncio.run(bootstrap.list_api_tokens(settings=_args.settings(args)))
    if args.json:
        print(json.dumps([_token_json(t) for t in tokens], ensure_ascii=False, indent=2))
        return Exit.OK
    for t in tokens:
        state = "active" if t.revoked_at is None else f"revoked {t.revoked_at.isoformat()}"
        scopes = ",".join(sorted(scope.value for scope in t.scopes))
        print(f"{t.id}\t{t.prefix}…\t{t.name}\t{scopes}\t{state}\tby {t.created_by}")
    print(f"{len(tokens)} token(s)", file=sys.stderr)
    return Exit.OK


def _revoke(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.application.api.ports import InvalidTokenRequest, UnknownToken

    try:
        token = asyncio.run(
            bootstrap.revoke_api_token(
                settings=_args.settings(args), token_id=args.token_id, by=args.by
            )
        )
    except (UnknownToken, InvalidTokenRequest) as error:
        raise CommandFailed(str(error), Exit.BAD_INPUT) from error
    assert token.revoked_at is not None  # noqa: S101 - revoked just now or before
    print(f"token {token.id} ({token.name}) revoked at {token.revoked_at.isoformat()}")
    return Exit.OK
