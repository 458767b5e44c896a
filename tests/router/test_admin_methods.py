"""HTTP methods on the admin API: HEAD answers as GET does without the body, and a method a path does not take is a
405 problem document whose ``Allow`` names every method the path does take."""

from __future__ import annotations

import pytest

from router.admin.problems import MEDIA_TYPE
from tests.router.conftest import ADMIN_TOKEN, make_settings, running
from tests.router.schema_walk import operations, published

pytestmark = pytest.mark.anyio

AUTH = {"authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_every_get_operation_answers_head_as_get_without_the_body(redis_url: str) -> None:
    async with running(make_settings(redis_url)) as http:
        gets = [path for method, path in operations(await published(http)) if method == "GET"]
        assert len(gets) >= 15
        for path in gets:
            got, head = await http.get(path, headers=AUTH), await http.head(path, headers=AUTH)
            assert (head.status_code, head.headers["content-type"]) == (got.status_code, got.headers["content-type"])
            assert head.content == b"", path
        # Checked as GET is: no credential, no answer.
        assert (await http.head("/api/keys")).status_code == 401


async def test_a_method_a_path_does_not_take_names_all_it_does(redis_url: str) -> None:
    async with running(make_settings(redis_url)) as http:
        refused = await http.patch("/api/keys", headers=AUTH)
        assert refused.status_code == 405
        assert refused.headers["content-type"] == MEDIA_TYPE
        assert refused.json()["code"] == "method_not_allowed"
        assert refused.headers["allow"] == "GET, HEAD, POST"
        only_delete = await http.get("/api/keys/k1", headers=AUTH)
        assert (only_delete.status_code, only_delete.headers["allow"]) == (405, "DELETE")
        # The SDK routes answer as they always did.
        sdk = await http.get("/projects/p1/sdk/events/trigger")
        assert (sdk.status_code, sdk.headers["allow"], sdk.text) == (405, "POST", "Method Not Allowed")
