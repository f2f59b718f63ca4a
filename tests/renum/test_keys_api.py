"""The keys API: store, list masked, delete; admins only for other users; ciphertext at rest."""

from __future__ import annotations

from typing import Any

import pytest

from renum.errors import CredentialError
from renum.settings import Settings
from renum.vault import MAX_KEYS_PER_USER, open_keys
from tests.conftest import ApiClient

VALUE = "sk-test-abcdefghijklmnop-1234"


async def _put(api: ApiClient, service: str, value: str, *, user: str = "alice",
               admin: bool = False, query: str = "") -> tuple[int, Any]:  # fmt: skip
    async with api.http.put(api.url(f"/v1/keys/{service}{query}"), json={"value": value},
                            headers=api.auth(user, admin=admin)) as resp:  # fmt: skip
        return resp.status, await resp.json()


async def _get(api: ApiClient, *, user: str = "alice", admin: bool = False,
               query: str = "") -> tuple[int, Any]:  # fmt: skip
    async with api.http.get(api.url(f"/v1/keys{query}"),
                            headers=api.auth(user, admin=admin)) as resp:  # fmt: skip
        return resp.status, await resp.json()


async def _delete(api: ApiClient, service: str, *, user: str = "alice", admin: bool = False,
                  query: str = "") -> int:  # fmt: skip
    async with api.http.delete(api.url(f"/v1/keys/{service}{query}"),
                               headers=api.auth(user, admin=admin)) as resp:  # fmt: skip
        return resp.status


async def test_put_list_replace_delete(api: ApiClient, db: Any) -> None:
    status, body = await _put(api, "openai", VALUE)
    assert status == 201
    assert body["service"] == "openai" and body["last4"] == "1234"
    assert body["key_version"] == "test1"
    assert set(body) == {"service", "last4", "key_version", "created_at", "updated_at"}

    status, again = await _put(api, "openai", VALUE[:-4] + "9999")
    assert status == 200 and again["last4"] == "9999"
    assert again["created_at"] == body["created_at"]

    await _put(api, "github", "ghp_" + "x" * 36)
    status, listed = await _get(api)
    assert status == 200
    assert [k["service"] for k in listed] == ["github", "openai"]
    assert VALUE[:-4] not in str(listed)

    assert await _delete(api, "openai") == 204
    assert await _delete(api, "openai") == 404
    assert [k["service"] for k in (await _get(api))[1]] == ["github"]


async def test_value_is_encrypted_at_rest_and_bound_to_its_row(
    api: ApiClient, db: Any, settings: Settings
) -> None:
    await _put(api, "openai", VALUE)
    await _put(api, "openai", "sk-bob-0000000000000000", user="bob")
    row = await db.fetchrow("SELECT * FROM user_keys WHERE user_id = 'alice'")
    assert VALUE.encode() not in bytes(row["ciphertext"])
    assert row["key_id"] == "test1"
    assert await open_keys(db, settings.key_ring, "alice") == {"openai": VALUE}
    # alice's ciphertext copied onto bob's row does not open as bob's key
    await db.execute(
        "UPDATE user_keys SET ciphertext = $1 WHERE user_id = 'bob'", row["ciphertext"]
    )
    with pytest.raises(CredentialError) as caught:
        await open_keys(db, settings.key_ring, "bob")
    assert VALUE not in str(caught.value)


@pytest.mark.parametrize(
    ("service", "value", "status"),
    [
        ("OpenAI", VALUE, 422),
        ("a" * 65, VALUE, 422),
        ("open.ai", VALUE, 422),
        ("openai", "", 422),
        ("openai", "x" * 4097, 422),
        ("openai", "line\nbreak", 422),
        ("openai", "with space", 422),
        ("openai", "x" * 4096, 201),
    ],
)
async def test_validation(api: ApiClient, service: str, value: str, status: int) -> None:
    got, body = await _put(api, service, value)
    assert got == status, body
    if status == 422:
        assert body["code"] == "validation_error"
        assert value not in str(body) or not value


async def test_short_values_show_no_last4(api: ApiClient) -> None:
    status, body = await _put(api, "tiny", "abc123")
    assert status == 201 and body["last4"] == ""


async def test_only_admins_manage_other_users_keys(api: ApiClient) -> None:
    await _put(api, "openai", VALUE)
    status, body = await _get(api, user="bob", query="?user_id=alice")
    assert status == 403 and body["code"] == "forbidden"
    assert (await _put(api, "openai", "sk-evil-00000000", user="bob", query="?user_id=alice"))[
        0
    ] == 403
    assert await _delete(api, "openai", user="bob", query="?user_id=alice") == 403
    assert (await _get(api, user="bob"))[1] == []
    assert await _delete(api, "openai", user="bob") == 404

    status, listed = await _get(api, user="root", admin=True, query="?user_id=alice")
    assert status == 200 and [k["service"] for k in listed] == ["openai"]
    status, _ = await _put(api, "github", "ghp_admin_set_000000", user="root", admin=True,
                           query="?user_id=alice")  # fmt: skip
    assert status == 201
    assert await _delete(api, "openai", user="root", admin=True, query="?user_id=alice") == 204
    assert [k["service"] for k in (await _get(api))[1]] == ["github"]
    assert (await _get(api, user="root", admin=True))[1] == []  # the admin's own keys


async def test_a_user_has_a_bounded_number_of_keys(api: ApiClient) -> None:
    for i in range(MAX_KEYS_PER_USER):
        assert (await _put(api, f"svc{i}", VALUE))[0] == 201
    status, body = await _put(api, "one-too-many", VALUE)
    assert status == 409 and body["code"] == "conflict"
    assert (await _put(api, "svc0", VALUE + "x"))[0] == 200  # replacing is fine


async def test_keys_need_a_token(api: ApiClient) -> None:
    async with api.http.get(api.url("/v1/keys")) as resp:
        assert resp.status == 401
        assert resp.content_type == "application/problem+json"
