"""Where Pendo is and how to authenticate: read from the environment, never printed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from ..errors import UsageError
from ..safety import Secret, is_loopback

REGION_HOSTS = {
    "us": "https://app.pendo.io",
    "us1": "https://us1.app.pendo.io",
    "eu": "https://app.eu.pendo.io",
    "jpn": "https://app.jpn.pendo.io",
    "au": "https://app.au.pendo.io",
}
DEFAULT_BASE_URL = REGION_HOSTS["us"]


@dataclass(frozen=True)
class PendoSettings:
    """The Pendo API host and integration key (the key is optional for dry runs)."""

    base_url: str
    key: Secret | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, key_required: bool = True) -> PendoSettings:
        """Read PENDO_INTEGRATION_KEY, PENDO_BASE_URL or PENDO_REGION; refuse insecure setups."""
        env = os.environ if env is None else env
        raw_key = (env.get("PENDO_INTEGRATION_KEY") or "").strip()
        if key_required and not raw_key:
            raise UsageError(
                "PENDO_INTEGRATION_KEY is not set: create a key with write access in Pendo "
                "(Settings > Integrations > Integration Keys) and export it, or use --dry-run"
            )
        return cls(base_url=base_url_from(env), key=Secret(raw_key) if raw_key else None)


def base_url_from(env: Mapping[str, str]) -> str:
    """PENDO_BASE_URL if set, else the host of PENDO_REGION, else Pendo's US host."""
    base = (env.get("PENDO_BASE_URL") or "").strip().rstrip("/")
    region = (env.get("PENDO_REGION") or "").strip().lower()
    if base and region:
        raise UsageError("set PENDO_BASE_URL or PENDO_REGION, not both")
    if region:
        if region not in REGION_HOSTS:
            raise UsageError(
                f"PENDO_REGION={region!r} is not a Pendo region; use one of: {', '.join(REGION_HOSTS)}"
            )
        return REGION_HOSTS[region]
    if not base:
        return DEFAULT_BASE_URL
    check_base_url(base)
    return base


def check_base_url(url: str) -> None:
    """Refuse URLs that are not http(s), and plain http to anything but loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"PENDO_BASE_URL={url!r} is not an http(s) URL like https://app.pendo.io")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"PENDO_BASE_URL={url!r} uses plain http: the integration key would travel in clear "
            "text; use https (plain http is allowed only for 127.0.0.1/localhost)"
        )
