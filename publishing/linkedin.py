"""LinkedIn's member APIs, as Maestro uses them: OAuth 2.0 (3-legged), the member's id, text posts through
the Posts API, and member post statistics. One httpx client per call with explicit timeouts; every
failure is a `LinkedInError` that says whether a retry can help and when.

    authorization_url(state=...)                    -> where the member grants access
    exchange_code(code=...) / refresh(refresh_token=...)  -> Tokens
    revoke(token=...)                               # an access or refresh token, forgotten by LinkedIn
    userinfo(access_token=...)                      -> {"sub": ..., "name": ...}
    create_post(access_token=..., author_urn=..., text=...)  -> the post's URN (x-restli-id)
    post_statistics(access_token=..., post_urn=...) -> {"impressions": n, "reactions": n, ...}

Base URLs, version and the app's credentials are settings (MAESTRO_LINKEDIN), so tests point them at
the fake server in testing/fake_linkedin.py. These URLs are the operator's, never a tenant's, so the
outbound guard of common/net.py (for URLs tenants supply) does not apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, urlencode

import httpx
from django.conf import settings
from django.utils import timezone

TIMEOUT = httpx.Timeout(15.0, connect=5.0)
MAX_COMMENTARY = 3000  # characters LinkedIn accepts in a post's commentary
# The Posts API reads commentary as "little" text: these characters are markup unless escaped, and an
# unescaped one can cut the post short.
_LITTLE_RESERVED = re.compile(r"([\\|{}@\[\]()<>#*_~])")
METRIC_TYPES = {
    "impressions": "IMPRESSION",
    "reactions": "REACTION",
    "comments": "COMMENT",
    "reposts": "RESHARE",
}
USER_AGENT = "Maestro-Publishing/1"


class LinkedInError(Exception):
    """A LinkedIn call that failed; `retryable` says whether the same call can pass later."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
        reconnect: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retryable = retryable
        self.retry_after = retry_after
        self.reconnect = reconnect  # the token is expired or revoked: the author must connect again


class NotConfiguredError(LinkedInError):
    """The operator has not set MAESTRO_LINKEDIN_CLIENT_ID / _SECRET / _REDIRECT_URI."""


@dataclass(frozen=True)
class Tokens:
    access_token: str
    expires_at: datetime
    refresh_token: str
    refresh_expires_at: datetime | None
    scopes: str


def config() -> dict[str, str]:
    return dict(settings.MAESTRO_LINKEDIN)


def is_configured() -> bool:
    conf = config()
    return bool(conf["client_id"] and conf["client_secret"] and conf["redirect_uri"])


def _require_app() -> dict[str, str]:
    if not is_configured():
        raise NotConfiguredError(
            "LinkedIn is not set up on this Maestro: the operator sets MAESTRO_LINKEDIN_CLIENT_ID, "
            "MAESTRO_LINKEDIN_CLIENT_SECRET and MAESTRO_LINKEDIN_REDIRECT_URI (docs/publishing.md)."
        )
    return config()


def _client() -> httpx.Client:
    return httpx.Client(
        timeout=TIMEOUT, trust_env=False, follow_redirects=False, headers={"User-Agent": USER_AGENT}
    )


# ---- OAuth 2.0 ----------------------------------------------------------------------------------


def authorization_url(*, state: str) -> str:
    conf = _require_app()
    query = urlencode(
        {
            "response_type": "code",
            "client_id": conf["client_id"],
            "redirect_uri": conf["redirect_uri"],
            "state": state,
            "scope": conf["scopes"],
        },
        quote_via=quote,
    )
    return f"{conf['oauth_url'].rstrip('/')}/authorization?{query}"


def exchange_code(*, code: str) -> Tokens:
    conf = _require_app()
    return _token_request(
        {"grant_type": "authorization_code", "code": code, "redirect_uri": conf["redirect_uri"]}, conf
    )


def refresh(*, refresh_token: str) -> Tokens:
    conf = _require_app()
    return _token_request({"grant_type": "refresh_token", "refresh_token": refresh_token}, conf)


def revoke(*, token: str) -> None:
    """Ask LinkedIn to revoke an access or a refresh token (POST {oauth}/revoke with the app's
    credentials, RFC 7009). The `LinkedInError` of a failure says whether trying again can help:
    LinkedIn down, 5xx and 429 can; refused credentials or a refused token cannot."""
    conf = _require_app()
    form = {"token": token, "client_id": conf["client_id"], "client_secret": conf["client_secret"]}
    _send("POST", f"{conf['oauth_url'].rstrip('/')}/revoke", data=form, errors=_revoke_error)


def _revoke_error(response: httpx.Response) -> LinkedInError:
    error = error_of(response)
    if error.retryable:
        return error
    status = response.status_code
    hint = ": check MAESTRO_LINKEDIN_CLIENT_ID and _SECRET" if status == 401 else ""
    return LinkedInError(
        f"LinkedIn refused to revoke the token ({status}: {_message(response)}){hint}.", status_code=status
    )


def _token_request(form: dict[str, str], conf: dict[str, str]) -> Tokens:
    form = {**form, "client_id": conf["client_id"], "client_secret": conf["client_secret"]}
    response = _send("POST", f"{conf['oauth_url'].rstrip('/')}/accessToken", data=form)
    body = _json(response)
    if not isinstance(body.get("access_token"), str) or not body["access_token"]:
        raise LinkedInError("LinkedIn's token answer had no access token.", status_code=response.status_code)
    now = timezone.now()
    refresh_in = body.get("refresh_token_expires_in")
    return Tokens(
        access_token=body["access_token"],
        expires_at=now + timedelta(seconds=int(body.get("expires_in") or 0)),
        refresh_token=str(body.get("refresh_token") or ""),
        refresh_expires_at=now + timedelta(seconds=int(refresh_in)) if refresh_in else None,
        scopes=str(body.get("scope") or ""),
    )


def userinfo(*, access_token: str) -> dict[str, Any]:
    """The member behind the token (OpenID Connect): `sub` is their person id."""
    response = _send("GET", f"{config()['api_url'].rstrip('/')}/v2/userinfo", token=access_token)
    body = _json(response)
    if not isinstance(body.get("sub"), str) or not body["sub"]:
        raise LinkedInError("LinkedIn's userinfo had no member id (sub).", status_code=response.status_code)
    return body


# ---- posts and their statistics ---------------------------------------------------------------------


def escape_commentary(text: str) -> str:
    return _LITTLE_RESERVED.sub(r"\\\1", text)


def create_post(*, access_token: str, author_urn: str, text: str) -> str:
    """Publish a public text post as the member; returns the post's URN (x-restli-id)."""
    text = text.strip()
    if not text:
        raise LinkedInError("The post is empty.")
    if len(text) > MAX_COMMENTARY:
        raise LinkedInError(f"LinkedIn takes at most {MAX_COMMENTARY} characters; this post has {len(text)}.")
    body = {
        "author": author_urn,
        "commentary": escape_commentary(text),
        "visibility": "PUBLIC",
        "distribution": {
            "feedDistribution": "MAIN_FEED",
            "targetEntities": [],
            "thirdPartyDistributionChannels": [],
        },
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    response = _send(
        "POST", f"{config()['api_url'].rstrip('/')}/rest/posts", token=access_token, json=body, rest=True
    )
    urn = response.headers.get("x-restli-id") or response.headers.get("x-linkedin-id") or ""
    if not urn:
        raise LinkedInError("LinkedIn accepted the post but sent no post id (x-restli-id).", status_code=201)
    return urn


def post_url(urn: str) -> str:
    return f"https://www.linkedin.com/feed/update/{urn}/"


def post_statistics(*, access_token: str, post_urn: str) -> dict[str, int]:
    """Lifetime counts of one of the member's posts (memberCreatorPostAnalytics, finder `entity`)."""
    kind = "ugcPost" if ":ugcPost:" in post_urn else "share"
    counts = {}
    for name, query_type in METRIC_TYPES.items():
        # Rest.li 2.0 syntax: the entity is a union, its URN percent-encoded inside the parentheses.
        query = (
            f"q=entity&entity=({kind}:{quote(post_urn, safe='')})&queryType={query_type}&aggregation=TOTAL"
        )
        url = f"{config()['api_url'].rstrip('/')}/rest/memberCreatorPostAnalytics?{query}"
        elements = _json(_send("GET", url, token=access_token, rest=True)).get("elements") or []
        counts[name] = sum(int(e.get("count") or 0) for e in elements if isinstance(e, dict))
    return counts


# ---- one HTTP call ----------------------------------------------------------------------------------


def _send(
    method: str,
    url: str,
    *,
    token: str = "",
    rest: bool = False,
    errors: Callable[[httpx.Response], LinkedInError] | None = None,
    **kwargs: Any,
) -> httpx.Response:
    headers = {}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if rest:
        headers["LinkedIn-Version"] = config()["version"]
        headers["X-Restli-Protocol-Version"] = "2.0.0"
    try:
        with _client() as client:
            response = client.request(method, url, headers=headers, **kwargs)
    except httpx.HTTPError as exc:
        raise LinkedInError(
            f"LinkedIn did not answer: {type(exc).__name__}: {exc}"[:500], retryable=True
        ) from exc
    if response.is_success:
        return response
    raise (errors or error_of)(response)


def error_of(response: httpx.Response) -> LinkedInError:
    """What a failed answer means: 401 reconnect, 429 and 5xx retry later, other 4xx never pass."""
    status = response.status_code
    detail = _message(response)
    if status == 401:
        return LinkedInError(
            f"LinkedIn refused the token (401: {detail}); connect the author's LinkedIn again.",
            status_code=status,
            reconnect=True,
        )
    if status == 429:
        return LinkedInError(
            f"LinkedIn's rate limit (429: {detail}).",
            status_code=status,
            retryable=True,
            retry_after=_retry_after(response),
        )
    if status >= 500:
        return LinkedInError(f"LinkedIn failed ({status}: {detail}).", status_code=status, retryable=True)
    if status == 403:
        return LinkedInError(
            f"LinkedIn refused the call (403: {detail}): the app or the member lacks the permission.",
            status_code=status,
        )
    return LinkedInError(f"LinkedIn refused the post ({status}: {detail}).", status_code=status)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        text = body.get("message") or body.get("error_description") or body.get("error") or ""
        return str(text)[:300] or response.reason_phrase
    return response.reason_phrase


def _retry_after(response: httpx.Response) -> float | None:
    raw = response.headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        return max(0.0, (parsedate_to_datetime(raw) - timezone.now()).total_seconds())
    except (TypeError, ValueError):
        return None


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise LinkedInError(
            f"LinkedIn answered something that is not JSON ({response.status_code})."
        ) from exc
    return body if isinstance(body, dict) else {}
