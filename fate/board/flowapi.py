"""The board's read-only view of its party's flow HTTP API (see fate/flow/server.py).

Only GET requests exist here: the board cannot submit, stop or upload anything.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp

from fate.board.errors import FlowUnavailable, NotFound

TIMEOUT = aiohttp.ClientTimeout(total=15, connect=5)


class FlowApi:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT, headers=self._headers)
        url = f"{self.base_url}{path}"
        try:
            async with self._session.get(url, params=params, allow_redirects=False) as resp:
                if resp.status == 404:
                    raise NotFound(await _reason(resp))
                if resp.status == 401:
                    # The token file differs from the flow's; say so without echoing either.
                    raise FlowUnavailable(
                        "the flow refused the board's token (token_file differs from flow's)"
                    )
                if resp.status != 200:
                    raise FlowUnavailable(f"flow answered HTTP {resp.status}: {await _reason(resp)}")
                return await resp.json()
        except (aiohttp.ClientError, TimeoutError) as err:
            raise FlowUnavailable(
                f"flow at {self.base_url} unreachable: {type(err).__name__} {err}"
            ) from None
        except ValueError as err:  # a body that is not JSON
            raise FlowUnavailable(
                f"flow at {self.base_url} answered something that is not JSON: {err}"
            ) from None

    async def jobs(self, limit: int = 100, status: str | None = None) -> list[dict[str, Any]]:
        params = {"limit": str(limit), **({"status": status} if status is not None else {})}
        return _list_of_dicts(await self._get("/v1/jobs", params), "job list")

    async def job(self, job_id: str) -> dict[str, Any]:
        job = await self._get(f"/v1/jobs/{quote(job_id, safe='')}")
        if not isinstance(job, dict):
            raise FlowUnavailable("flow sent a job that is not an object")
        return job

    async def logs(self, job_id: str, after: int = 0) -> list[dict[str, Any]]:
        data = await self._get(f"/v1/jobs/{quote(job_id, safe='')}/logs", {"after": str(after)})
        return _list_of_dicts(data, "log")

    async def links(self) -> dict[str, Any]:
        """This party's router links as the flow reports them: `{peer: {state, latency_ms, last_error, ...}}`."""
        data = await self._get("/v1/federation/links")
        if not isinstance(data, dict):
            raise FlowUnavailable("flow sent link states that are not an object")
        return data

    async def outputs(self, job_id: str) -> list[dict[str, Any]]:
        return _list_of_dicts(await self._get(f"/v1/jobs/{quote(job_id, safe='')}/outputs"), "output list")


async def _reason(resp: aiohttp.ClientResponse) -> str:
    try:
        body = await resp.json(content_type=None)
        return str(body.get("error", body)) if isinstance(body, dict) else str(body)
    except ValueError:
        return (await resp.text())[:200]


def _list_of_dicts(data: Any, what: str) -> list[dict[str, Any]]:
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise FlowUnavailable(f"flow sent a {what} that is not a list of objects")
    return data
