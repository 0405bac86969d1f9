"""The kiosk agent: the daemon on the kiosk PC, run by `wattbook kiosk agent`."""

from wattbook.interfaces.kiosk._agent import KioskAgent, ServerRefusedAgent
from wattbook.interfaces.kiosk._run import AcceptorDeviceUnavailable, run_agent

__all__ = ["AcceptorDeviceUnavailable", "KioskAgent", "ServerRefusedAgent", "run_agent"]
