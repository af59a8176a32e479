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


INTEGRATION_KEY_REFUSED = (
    "Pendo refused the integration key (403). Either the key is wrong, or it has no write "
    "access (Settings > Integrations > Integration Keys > 'Allow Write Access'), or it belongs "
    "to another region than {base} (set PENDO_REGION or PENDO_BASE_URL to your Pendo host)"
)
TRACK_SECRET_REFUSED = (
    "Pendo refused the Track Event shared secret (403) at {base}. Set PENDO_TRACK_SECRET to the "
    "app's shared secret (Settings > Subscription Settings > your app > Track Event shared "
    "secret), not the integration key, and check PENDO_TRACK_URL or PENDO_REGION"
)
TRACK_PATH = "/data/track"


@dataclass(frozen=True)
class PendoSettings:
    """The Pendo API host and integration key (the key is optional for dry runs); for Track
    Events, the track endpoint's URL and the shared secret (`track_settings`)."""

    base_url: str
    key: Secret | None = field(default=None, repr=False)
    refused: str = INTEGRATION_KEY_REFUSED  # what a 403 means, with {base}
    # A call whose request may have reached Pendo without an answer (read timeout, connection
    # dropped once made) is made again: harmless for metadata, whose writes set values; a
    # Track Event would count twice, so the track endpoint's calls are not.
    repeat_unanswered: bool = True

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


def track_settings(env: Mapping[str, str] | None = None) -> PendoSettings | None:
    """The Track Event endpoint and shared secret: PENDO_TRACK_SECRET, and PENDO_TRACK_URL
    (the endpoint's full URL), else the API host's /data/track; None without a secret."""
    env = os.environ if env is None else env
    secret = (env.get("PENDO_TRACK_SECRET") or "").strip()
    if not secret:
        return None
    url = (env.get("PENDO_TRACK_URL") or "").strip()
    if url:
        check_base_url(url, "PENDO_TRACK_URL")
    else:
        url = base_url_from(env) + TRACK_PATH
    return PendoSettings(
        base_url=url, key=Secret(secret), refused=TRACK_SECRET_REFUSED, repeat_unanswered=False
    )


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


def check_base_url(url: str, name: str = "PENDO_BASE_URL") -> None:
    """Refuse URLs that are not http(s), and plain http to anything but loopback."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"{name}={url!r} is not an http(s) URL like https://app.pendo.io")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise UsageError(
            f"{name}={url!r} uses plain http: the key would travel in clear text; use https "
            "(plain http is allowed only for 127.0.0.1/localhost)"
        )
