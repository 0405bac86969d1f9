"""`wattbook kiosk add|list|rotate|revoke|agent`: kiosks as registered devices.

``add`` and ``rotate`` print the new secret once (or write it, mode 0600, to
``--secret-file``); the server keeps it to check the kiosk's signatures. ``agent`` is the
daemon on the kiosk PC: it serves the screen to the local browser, signs its calls to the
server, and relays the note acceptor's notes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import os
import signal
import sys
from pathlib import Path

from wattbook.interfaces.cli import _args
from wattbook.interfaces.cli._errors import CommandFailed
from wattbook.interfaces.cli._exits import Exit


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the `kiosk` sub-command and its commands to the parser."""
    tools = _args.add_command(sub, "kiosk", help="register kiosks and run the kiosk agent")
    commands = tools.add_subparsers(dest="kiosk_command", metavar="COMMAND", required=True)
    for name, helptext, handler in (
        ("add", "register a kiosk and print its secret once", _add),
        ("rotate", "give a kiosk a new secret (the old one stops working)", _rotate),
        ("revoke", "refuse a kiosk's requests from now on", _revoke),
    ):
        command = _args.add_command(commands, name, help=helptext, database=True)
        command.add_argument("kiosk_id", metavar="KIOSK", help="the kiosk's id, e.g. K01")
        if name != "revoke":
            command.add_argument(
                "--secret-file",
                type=Path,
                help="write the secret to this new file (mode 0600) instead of printing it",
            )
        command.add_argument("--by", default=None, help="who does it (default: the login name)")
        command.set_defaults(handler=handler)
    listing = _args.add_command(commands, "list", help="list the registered kiosks", database=True)
    listing.set_defaults(handler=_list)

    agent = _args.add_command(
        commands,
        "agent",
        help="run the kiosk PC's agent: the screen's proxy and the note acceptor's relay",
        exits=(Exit.CANNOT_LISTEN, Exit.DEVICE),
    )
    agent.add_argument("--kiosk", required=True, help="this kiosk's id, e.g. K01")
    agent.add_argument("--secret-file", required=True, type=Path, help="the kiosk's secret")
    agent.add_argument("--server", required=True, help="the wattbook server, e.g. http://host:8700")
    agent.add_argument(
        "--listen",
        type=_args.host_port(allow_zero=True),
        default="127.0.0.1:8400",
        metavar="HOST:PORT",
        help="where the screen connects (127.0.0.1:8400)",
    )
    agent.add_argument(
        "--acceptor",
        default="simulated",
        help="'simulated' (a panel at /acceptor) or a ccTalk bill validator, "
        "'cctalk:/dev/ttyUSB0[?address=40&baud=9600]'",
    )
    agent.set_defaults(handler=_agent)


def _by(args: argparse.Namespace) -> str:
    if args.by:
        return str(args.by)
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


def _write_secret(path: Path, secret: str) -> None:
    """Write the secret to a new file readable by its owner only.

    :raises FileExistsError: if the file exists (a secret is never overwritten silently).
    """
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as file:
        file.write(secret + "\n")


def _hand_over(args: argparse.Namespace, kiosk_id: str, secret: str, verb: str) -> int:
    if args.secret_file is None:
        print(f"kiosk {kiosk_id} {verb}; its secret (shown once, keep it on the kiosk PC):")
        print(secret)
        return Exit.OK
    try:
        _write_secret(args.secret_file, secret)
    except OSError as error:
        # The kiosk is registered (or rotated) but the secret is lost: rotate again.
        print(
            f"wattbook kiosk: cannot write {args.secret_file}: {error.strerror or error}; "
            f"run `wattbook kiosk rotate {kiosk_id} --secret-file NEW_FILE`",
            file=sys.stderr,
        )
        return Exit.FAILED
    print(f"kiosk {kiosk_id} {verb}; secret written to {args.secret_file} (mode 0600)")
    return Exit.OK


def _check_secret_file(args: argparse.Namespace) -> str | None:
    path = args.secret_file
    if path is not None and (path.exists() or not path.parent.is_dir()):
        return f"{path} exists or its folder does not: give a new file"
    return None


def _add(args: argparse.Namespace) -> int:
    return _new_secret(args, rotate=False)


def _rotate(args: argparse.Namespace) -> int:
    return _new_secret(args, rotate=True)


def _new_secret(args: argparse.Namespace, *, rotate: bool) -> int:
    """Register the kiosk (or give it a new secret) and hand the secret over once."""
    from wattbook import bootstrap
    from wattbook.application.payments import kiosk_devices
    from wattbook.domain import payments

    problem = _check_secret_file(args)
    if problem is not None:
        raise CommandFailed(problem, Exit.BAD_INPUT)
    use_case = kiosk_devices.rotate_kiosk if rotate else kiosk_devices.register_kiosk
    storage = bootstrap.build_storage(_args.settings(args))
    try:
        kiosk, secret = asyncio.run(
            use_case(
                uow=storage.uow_factory(), clock=storage.clock, kiosk_id=args.kiosk_id, by=_by(args)
            )
        )
    except (
        payments.InvalidKioskId,
        payments.UnknownKiosk,
        kiosk_devices.KioskAlreadyRegistered,
    ) as error:
        raise CommandFailed(str(error), Exit.BAD_INPUT) from error
    finally:
        storage.close()
    return _hand_over(args, kiosk.kiosk_id, secret, "rotated" if rotate else "registered")


def _revoke(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.application.payments import kiosk_devices
    from wattbook.domain import payments

    storage = bootstrap.build_storage(_args.settings(args))
    try:
        kiosk = asyncio.run(
            kiosk_devices.revoke_kiosk(
                uow=storage.uow_factory(), clock=storage.clock, kiosk_id=args.kiosk_id, by=_by(args)
            )
        )
    except payments.UnknownKiosk as error:
        print(f"wattbook kiosk revoke: {error}", file=sys.stderr)
        return Exit.BAD_INPUT
    finally:
        storage.close()
    assert kiosk.revoked_at is not None  # noqa: S101 - revoked above
    print(f"kiosk {kiosk.kiosk_id} revoked at {kiosk.revoked_at.isoformat()}")
    return Exit.OK


def _list(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.application.payments import kiosk_devices

    storage = bootstrap.build_storage(_args.settings(args))
    try:
        kiosks = asyncio.run(kiosk_devices.list_kiosks(uow=storage.uow_factory()))
    finally:
        storage.close()
    print("kiosk\tregistered\tby\tstate\tlast acceptor sequence")
    for kiosk in kiosks:
        if kiosk.revoked_at is not None:
            state = f"revoked {kiosk.revoked_at.isoformat()}"
        elif kiosk.secret is None:
            state = "no secret (rotate it)"
        else:
            state = "active"
        print(
            f"{kiosk.kiosk_id}\t{kiosk.registered_at.isoformat()}\t{kiosk.registered_by}\t"
            f"{state}\t{kiosk.last_acceptor_sequence}"
        )
    return Exit.OK


def _agent(args: argparse.Namespace) -> int:
    from wattbook import bootstrap
    from wattbook.domain import payments
    from wattbook.interfaces import kiosk as kiosk_agent

    try:
        bootstrap.check_acceptor_spec(args.acceptor)
    except bootstrap.InvalidAcceptor as error:
        print(f"wattbook kiosk agent: {error}", file=sys.stderr)
        return Exit.BAD_INPUT
    listen: tuple[str, int] = args.listen
    try:
        secret = args.secret_file.read_text(encoding="ascii").strip()
        payments.check_kiosk_id(args.kiosk)
    except (OSError, UnicodeDecodeError, payments.InvalidKioskId) as error:
        print(f"wattbook kiosk agent: {error}", file=sys.stderr)
        return Exit.BAD_INPUT
    if not secret or not args.server.startswith(("http://", "https://")):
        print(
            "wattbook kiosk agent: an empty secret file, or --server is not a URL", file=sys.stderr
        )
        return Exit.BAD_INPUT

    def listening(urls: str) -> None:
        kiosk_url, _, panel_url = urls.partition(" ")
        print(f"wattbook kiosk agent {args.kiosk}: screen {kiosk_url}", flush=True)
        if panel_url:
            print(f"wattbook kiosk agent {args.kiosk}: acceptor panel {panel_url}", flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await kiosk_agent.run_agent(
            kiosk_id=args.kiosk,
            secret=secret,
            server_url=args.server,
            host=listen[0],
            port=listen[1],
            acceptor=args.acceptor,
            stop=stop,
            on_listening=listening,
        )

    try:
        asyncio.run(main())
    except bootstrap.InvalidAcceptor as error:
        print(f"wattbook kiosk agent: {error}", file=sys.stderr)
        return Exit.BAD_INPUT
    except kiosk_agent.ServerRefusedAgent as error:
        # A wrong or revoked secret, or an unknown kiosk: what the operator gave is wrong.
        print(
            f"wattbook kiosk agent: the server refused kiosk {args.kiosk}: {error}", file=sys.stderr
        )
        return Exit.BAD_INPUT
    except kiosk_agent.AcceptorDeviceUnavailable as error:
        print(f"wattbook kiosk agent: {error}", file=sys.stderr)
        return Exit.DEVICE
    except OSError as error:
        print(
            f"wattbook kiosk agent: cannot listen on {listen[0]}:{listen[1]}: {error}",
            file=sys.stderr,
        )
        return Exit.CANNOT_LISTEN
    except KeyboardInterrupt:
        return Exit.OK
    return Exit.OK
