"""The bank's endpoints (P3): signed callbacks and agreement notices."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import JSONResponse

from wattbook.application.payments import bank
from wattbook.interfaces.web._context import batcher, runtime

router = APIRouter(prefix="/bank")
SIGNATURE_HEADER = "X-Bank-Signature"


@router.post("/callbacks")
async def callback(request: Request) -> JSONResponse:
    """Settle one signed callback; answer 200 only once it is committed."""
    link = runtime(request).bank
    parsed = link.read_callback(await request.body(), request.headers.get(SIGNATURE_HEADER))
    outcome = await batcher(request).settle(parsed)
    return JSONResponse(
        {
            "serial": outcome.serial,
            "result": outcome.settlement.value,
            "receipt_number": outcome.receipt_number,
        }
    )


@router.post("/agreements")
async def agreement(request: Request) -> JSONResponse:
    """Store an agreement the bank signed."""
    context = runtime(request)
    parsed = context.bank.read_agreement(
        await request.body(), request.headers.get(SIGNATURE_HEADER)
    )
    await bank.register_agreement(uow=context.uow_factory(), clock=context.clock, agreement=parsed)
    return JSONResponse({"agreement_number": parsed.agreement_number}, status_code=201)


@router.post("/agreements/cancellations")
async def cancel(request: Request) -> JSONResponse:
    """Cancel an agreement from the date the bank's signed notice gives."""
    context = runtime(request)
    number, on = context.bank.read_cancellation(
        await request.body(), request.headers.get(SIGNATURE_HEADER)
    )
    cancelled = await bank.cancel_agreement(
        uow=context.uow_factory(), clock=context.clock, agreement_number=number, on=on
    )
    return JSONResponse({"agreement_number": number, "cancelled_on": str(cancelled.cancelled_on)})
