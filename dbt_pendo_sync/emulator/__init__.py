"""The local Pendo emulator (`dbt-pendo emulator`): a real HTTP server that plays Pendo's
API for trials and tests, apart from the client that talks to the real one."""

from .data import ALL, EmulatorData
from .faults import Fault
from .server import PendoEmulator

__all__ = ["ALL", "EmulatorData", "Fault", "PendoEmulator"]
