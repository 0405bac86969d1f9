"""Note acceptors for the kiosk agent: a simulated one, and ccTalk bill validators on serial."""

from wattbook.adapters.acceptors._simulated import SimulatedAcceptor, SimulatedNote

__all__ = ["SimulatedAcceptor", "SimulatedNote"]
