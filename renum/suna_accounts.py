"""Which Suna account a user's executions call as, and the agents their steps name.

Everyone runs through the service account (``SUNA_ACCOUNT_ID`` with
``SUNA_API_KEY`` or ``SUNA_JWT_SECRET``) unless they stored their own Suna
account's API key (``PUT /v1/keys/suna``, a ``pk_…:sk_…`` value sealed in the
vault like any key): then their executions call Suna as that account, with its
agents, models, run limits and Suna billing. Which of the two is fixed at
launch (``executions.suna_account``).

A step's ``agent_id`` is a Suna agent UUID or an agent's name. Names are
resolved in the account's agent list (the exact name, exactly one agent),
cached for :data:`AGENT_NAME_TTL_S` per account; lookups of the same name at the
same time ask Suna once.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from renum.keys import KeyRing
from suna_client import (
    ApiKeyAuth,
    SunaAgentsDisabledError,
    SunaClient,
    SunaNotFoundError,
    SunaUnknownAgentError,
)
from suna_client.errors import is_uuid

__all__ = [
    "AGENT_NAME_TTL_S",
    "SUNA_KEY_PATTERN",
    "SUNA_KEY_SERVICE",
    "Account",
    "Caller",
    "SunaAccounts",
    "suna_key_sql",
]

#: The vault service under which a user's own Suna account API key is stored.
SUNA_KEY_SERVICE = "suna"
#: What a Suna account API key looks like (``X-API-Key: pk_xxx:sk_xxx``).
SUNA_KEY_PATTERN = r"^pk_[A-Za-z0-9_-]+:sk_[A-Za-z0-9_-]+$"
#: How long a resolved agent name is trusted before the account's agent list is read again.
AGENT_NAME_TTL_S = 60.0


def suna_key_sql(execution: str) -> str:
    """Column ``suna_key_sealed``: the sealed Suna key an execution (the table alias
    ``execution``) runs with: the user's key as it was at launch (``suna_key_at``), NULL for
    the service account or when the key was deleted or replaced since."""
    return (f"(SELECT k.ciphertext FROM user_keys k WHERE {execution}.suna_account = 'user'"
            f" AND k.user_id = {execution}.user_id AND k.service = '{SUNA_KEY_SERVICE}'"
            f" AND k.updated_at = {execution}.suna_key_at) AS suna_key_sealed")  # fmt: skip


@dataclass(frozen=True)
class Caller:
    """Whose Suna account a call runs as."""

    kind: Literal["service", "user"]
    account_id: str | None = None
    """The service account's UUID (a user's own account is known to Suna by its key)."""
    user_id: str | None = None
    """The Renum user whose own account it is (``user``)."""
    key_hash: str | None = None
    """A digest of the user's key (which account it is, without the key): names cached
    for one key are not used for another."""


@dataclass(frozen=True)
class Account:
    """A Suna account to call as: who it is and the client that calls as it."""

    caller: Caller
    client: SunaClient
    key_at: datetime | None = None
    """When the user's key was stored (``user_keys.updated_at``): fixed at launch."""

    @property
    def cache_key(self) -> str:
        """What its agent names are cached under (each account has its own agents)."""
        return "service" if self.caller.kind == "service" else f"user:{self.caller.key_hash}"


class SunaAccounts:
    """The service account, users' own accounts, and agent names resolved in each."""

    def __init__(
        self, service: SunaClient, *, service_account_id: str | None,
        key_ring: KeyRing | None = None,
    ) -> None:  # fmt: skip
        self._service = Account(Caller("service", service_account_id), service)
        self._ring = key_ring
        self._names: dict[tuple[str, str], tuple[str, float]] = {}
        self._pending: dict[tuple[str, str], asyncio.Future[str]] = {}

    @property
    def service(self) -> Account:
        """The service account."""
        return self._service

    def user(self, user_id: str, api_key: str, key_at: datetime | None = None) -> Account:
        """A user's own account, called with the API key they stored."""
        digest = hashlib.sha256(f"renum-suna-account:{api_key}".encode()).hexdigest()[:24]
        return Account(Caller("user", user_id=user_id, key_hash=digest),
                       self._service.client.acting_as(ApiKeyAuth(api_key)), key_at)  # fmt: skip

    def of_sealed(
        self, user_id: str, sealed: bytes | None, key_at: datetime | None = None
    ) -> Account:
        """The account of a user whose Suna key was read sealed (None: the service's).

        Raises :class:`~renum.errors.CredentialError` if it cannot be opened.
        """
        if sealed is None:
            return self._service
        assert self._ring is not None, "a sealed Suna key needs the master key ring"
        key = self._ring.open(sealed, user_id=user_id, service=SUNA_KEY_SERVICE)
        return self.user(user_id, key, key_at)

    async def of_user(self, pool: Any, user_id: str) -> Account:
        """The account ``user_id``'s next launch runs as: theirs if they stored a key."""
        row = await pool.fetchrow(
            "SELECT ciphertext, updated_at FROM user_keys WHERE user_id = $1 AND service = $2",
            user_id, SUNA_KEY_SERVICE,
        )  # fmt: skip
        if row is None:
            return self._service
        return self.of_sealed(user_id, row["ciphertext"], row["updated_at"])

    async def agent_id(self, account: Account, agent: str) -> str:
        """The UUID of ``agent`` in ``account``: itself if it is one, else its name resolved
        (:class:`~suna_client.SunaUnknownAgentError` when no agent, or several, has it)."""
        if is_uuid(agent):
            return agent
        key = (account.cache_key, agent)
        cached = self._names.get(key)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        pending = self._pending.get(key)  # steps started together ask Suna once
        if pending is None:
            pending = asyncio.ensure_future(account.client.resolve_agent(agent))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        agent_id = await asyncio.shield(pending)
        self._names[key] = (agent_id, time.monotonic() + AGENT_NAME_TTL_S)
        return agent_id

    async def check(self, account: Account, agent: str) -> str:
        """Like :meth:`agent_id`, but asking Suna now (the user may have just created or
        renamed an agent), and a UUID must be an agent of the account too."""
        if not is_uuid(agent):
            agent_id = await account.client.resolve_agent(agent)
            self._names[(account.cache_key, agent)] = (agent_id,
                                                       time.monotonic() + AGENT_NAME_TTL_S)
            return agent_id
        try:
            await account.client.get_agent(agent)
        except SunaNotFoundError:
            raise SunaUnknownAgentError(agent, 0) from None
        except SunaAgentsDisabledError:
            pass  # the deployment shows no agents: a UUID is taken on trust
        return agent


#: A Suna account API key, compiled.
SUNA_KEY = re.compile(SUNA_KEY_PATTERN)
