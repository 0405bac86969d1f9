"""The kiosk agent (issue 16): the daemon on the kiosk PC, run by `wattbook kiosk agent`."""

from wattbook.interfaces.kiosk._agent import KioskAgent, ServerRefusedAgent
from wattbook.interfaces.kiosk._run import run_agent

__all__ = ["KioskAgent", "ServerRefusedAgent", "run_agent"]
