"""Credit top-ups from any channel: journal, receipt and prepaid rules in one unit of work."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from wattbook.application import ports
from wattbook.application.payments import ports as payment_ports
from wattbook.application.prepaid.rules import apply_prepaid_rules
from wattbook.domain import billing, ledger, payments, prepaid
from wattbook.domain.values import AccountNumber, Money


@dataclass(frozen=True, slots=True, kw_only=True)
class TopUp:
    """Money that came in through a channel, under the channel's own reference."""

    account_number: AccountNumber
    amount: Money
    channel: payments.Channel
    channel_reference: str
    operator: str | None = None
    note: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class Credited:
    """What crediting did: a payment per top-up (replays: the first one), the new ones, and
    the rules' commands."""

    payments: tuple[payment_ports.Payment, ...]
    fresh: tuple[payment_ports.Payment, ...]
    commands: tuple[prepaid.Command, ...]


def _same(payment: payment_ports.Payment, top_up: TopUp) -> bool:
    return payment.account_number == top_up.account_number and payment.amount == top_up.amount


async def credit_top_ups(
    uow: ports.UnitOfWork,
    *,
    top_ups: Sequence[TopUp],
    now: datetime,
    tariffs: billing.TariffHistory | None = None,
) -> Credited:
    """Credit each top-up once, inside the caller's unit of work, and run the prepaid rules.

    A top-up whose channel reference was credited before is a replay: its first payment is
    returned and nothing is posted. The rules run for every account whose money changed, so a
    top-up that brings a tripped account back queues the close with the money (B6).
    ``tariffs``, if given, is the tariff history as read in this unit of work (saves reading
    it again).

    :raises payments.DuplicatePayment: if a reference was used before for other money.
    :raises UnknownAccount: if an account does not exist.
    """
    found: dict[str, payment_ports.Payment] = {}
    for channel in {t.channel for t in top_ups}:
        references = [t.channel_reference for t in top_ups if t.channel is channel]
        for reference, payment in (
            await uow.payments.by_channel_reference(channel, references)
        ).items():
            found[f"{channel.value}:{reference}"] = payment
    fresh: list[TopUp] = []
    seen: set[str] = set()
    for top_up in top_ups:
        key = f"{top_up.channel.value}:{top_up.channel_reference}"
        earlier = found.get(key)
        if earlier is not None:
            if not _same(earlier, top_up):
                raise payments.DuplicatePayment(
                    f"{key} was {earlier.amount.yuan()} yuan for {earlier.account_number}"
                )
            continue
        if key not in seen:
            seen.add(key)
            fresh.append(top_up)
    entries = [
        ledger.Entry(
            account_number=t.account_number,
            reference=payments.ledger_reference(
                channel=t.channel, channel_reference=t.channel_reference
            ),
            kind=ledger.EntryKind.TOP_UP,
            amount=t.amount,
            at=now,
            note=t.note,
        )
        for t in fresh
    ]
    recorded: tuple[payment_ports.Payment, ...] = ()
    commands: tuple[prepaid.Command, ...] = ()
    if entries:
        # The balances as just posted: the rules need not read them back.
        balances = await uow.ledger.post(entries)
        recorded = await uow.payments.record(
            [
                payment_ports.NewPayment(
                    entry_reference=entry.reference,
                    channel=t.channel,
                    channel_reference=t.channel_reference,
                    kind=payments.PaymentKind.TOP_UP,
                    operator=t.operator,
                    note=t.note,
                )
                for entry, t in zip(entries, fresh, strict=True)
            ]
        )
        commands = await apply_prepaid_rules(
            uow,
            numbers={t.account_number for t in fresh},
            now=now,
            tariffs=tariffs,
            balances=balances,
        )
    by_key = {f"{p.channel.value}:{p.channel_reference}": p for p in recorded}
    by_key.update(found)
    ordered = tuple(by_key[f"{t.channel.value}:{t.channel_reference}"] for t in top_ups)
    return Credited(payments=ordered, fresh=recorded, commands=commands)
