"""The keys the emulator takes (the integration key reads and writes, a read-only key reads, the
track secret sends track events), why it refuses a key, and GET /api/v1/token/verify."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .answers import NOT_FOUND, Answer, Incoming, Routes, json_answer


class Keys:
    """The integration key, the read-only keys and the track secret (None: no track call is
    accepted) of one emulator."""

    def __init__(self, integration_key: str, read_only_keys: Iterable[str], track_secret: str | None) -> None:
        self._key = integration_key
        self._read_only_keys = frozenset(read_only_keys)
        self.track_secret = track_secret

    def ok(self, path: str, key: str | None) -> bool:
        """Whether `key` is taken on `path` (the track secret on /data/, else any API key)."""
        if path.startswith("/data/"):
            return self.track_secret is not None and key == self.track_secret
        return key == self._key or key in self._read_only_keys

    def writes(self, key: str | None) -> bool:
        """Whether `key` is the integration key, the only one that may write."""
        return key == self._key

    def refusal(self, path: str, key: str | None) -> str | None:
        """Why the key of a request with this path is refused, never the key itself (None: it
        is not)."""
        if path.startswith("/data/"):
            return self._track_refusal(key)
        if key == self._key:
            return None
        if key is None:
            return "no key"
        return "read-only key" if key in self._read_only_keys else "wrong key"

    def _track_refusal(self, key: str | None) -> str | None:
        if self.track_secret is None:
            return "no track secret configured"
        if key == self.track_secret:
            return None
        if key is None:
            return "no key"
        return "integration key, not the track secret" if key == self._key else "wrong secret"


class Verify:
    """GET /api/v1/token/verify, when the emulator has it (`exists`): valid, and write access."""

    def __init__(self, keys: Keys, exists: bool) -> None:
        self._keys = keys
        self._exists = exists
        self.routes: Routes = [("GET", re.compile(r"/api/v1/token/verify"), self._verify)]

    def _verify(self, req: Incoming) -> Answer:
        if not self._exists:
            return NOT_FOUND
        return json_answer(200, {"valid": True, "writeAccess": self._keys.writes(req.key)})
