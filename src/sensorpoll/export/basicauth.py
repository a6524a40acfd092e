"""HTTP basic auth against the web config's bcrypt hashes, with verified results cached.

bcrypt is slow on purpose (tens of ms); a Prometheus scraping every few seconds with the same
credentials must not pay that each time, and the event loop must never wait on it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
from collections import OrderedDict
from collections.abc import Callable, Mapping

# Checked when the user is unknown, so a wrong user costs as long as a wrong password.
_DUMMY_HASH = b"$2b$10$zFIRsKKl2hRImOwmUcC6uuracqfw3fZOW0wemJtWcaCGH9k3AhmmC"
CACHE_SIZE = 256


class BasicAuth:
    """Verifies `Authorization: Basic ...` headers for one set of users."""

    def __init__(self, users: Mapping[str, str]) -> None:
        # imported here: only a web config with users needs bcrypt, the rest of the daemon's
        # memory does not carry it (bench/memory.py)
        import bcrypt

        self._checkpw: Callable[[bytes, bytes], bool] = bcrypt.checkpw
        self._users = {user: hashed.encode() for user, hashed in users.items()}
        # Cache keys are HMACs under a key that lives only in this process: neither passwords
        # nor anything a guess could be checked against offline is kept in memory.
        self._key = os.urandom(32)
        self._accepted: OrderedDict[bytes, None] = OrderedDict()
        self._rejected: OrderedDict[bytes, None] = OrderedDict()  # separate: a flood of wrong
        # guesses cannot evict the scraper's good entry

    async def allows(self, authorization: str | None) -> bool:
        credentials = _parse(authorization)
        if credentials is None:
            return False
        user, password = credentials
        stored = self._users.get(user)
        key = hmac.new(
            self._key,
            b"%d:%s:%s:%s" % (len(user), user.encode(), password, stored or b""),
            hashlib.sha256,
        ).digest()
        if key in self._accepted:
            self._accepted.move_to_end(key)
            return True
        if key in self._rejected:
            return False
        loop = asyncio.get_running_loop()
        # bcrypt releases the GIL: in a worker thread it costs the loop nothing
        ok = await loop.run_in_executor(None, self._checkpw, password, stored or _DUMMY_HASH)
        ok = ok and stored is not None
        cache = self._accepted if ok else self._rejected
        cache[key] = None
        if len(cache) > CACHE_SIZE:
            cache.popitem(last=False)
        return ok


def _parse(authorization: str | None) -> tuple[str, bytes] | None:
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    user, sep, password = decoded.partition(b":")
    if not sep:
        return None
    try:
        return user.decode("utf-8"), password
    except UnicodeDecodeError:
        return None
