"""Keeping secrets secret: values that never print themselves, and the loopback check that
decides where plain http may carry one (Pendo's key, dbt Cloud's token, the emulator)."""

from __future__ import annotations

import ipaddress


class Secret:
    """A value that never shows itself in str(), repr() or f-strings."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one header that needs it."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__


def is_loopback(host: str) -> bool:
    """Whether a host name or address is this machine's loopback (localhost, 127.x, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
