"""The local Pendo emulator (`dbt-pendo emulator`): a real HTTP server that plays Pendo's
API for trials and tests, apart from the client that talks to the real one."""

from .data import ALL, EmulatorData
from .server import Fault, PendoEmulator

__all__ = ["ALL", "EmulatorData", "Fault", "PendoEmulator"]
