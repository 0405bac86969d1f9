"""The meter adapter: the head-end's MeterGateway over DL/T 645-2007 (the only dlt645 user)."""

from wattbook.adapters.meters._gateway import (
    DEFAULT_PASSWORD,
    EVENT_DIS,
    HEADEND_OPERATOR,
    Dlt645Gateway,
    Dlt645GatewayFactory,
    relay_authoriser,
    transport_url,
)

__all__ = [
    "DEFAULT_PASSWORD",
    "EVENT_DIS",
    "HEADEND_OPERATOR",
    "Dlt645Gateway",
    "Dlt645GatewayFactory",
    "relay_authoriser",
    "transport_url",
]
