"""A fake LinkedIn: a real HTTP server on 127.0.0.1 with the endpoints Maestro's publishing uses.

    with FakeLinkedIn.start() as fake:                   # a background thread with its own loop
        settings.MAESTRO_LINKEDIN = fake.settings()       # or the environment: fake.environment()
        fake.fail_next_post(429, retry_after="2")         # one-shot failures, in order
        fake.fail_next_revoke(503)                        # the same for POST /oauth/v2/revoke
        ... Maestro publishes ...
        assert fake.posts()[0].body["commentary"] == "..."
        assert not fake.token_works(token)                # after Maestro revoked it

Endpoints, as LinkedIn documents them:
  GET  /oauth/v2/authorization   the consent page; the fake consents at once and redirects back with
                                 `code` and `state` (or `error=user_cancelled_authorize` once asked to)
  POST /oauth/v2/accessToken     authorization_code and refresh_token grants (form-encoded); access
                                 tokens live 60 days, refresh tokens 365 (only when `refresh_tokens`)
  POST /oauth/v2/revoke          revoke an access or a refresh token (form: client_id, client_secret,
                                 token); 200 with an empty body, also for a token it does not know
                                 (RFC 7009). A revoked access token then answers 401
                                 REVOKED_ACCESS_TOKEN; a revoked refresh token is refused by the grant
  GET  /v2/userinfo              OpenID Connect: `sub`, `name`, ... of the token's member
  POST /rest/posts               needs `LinkedIn-Version: YYYYMM` and `X-Restli-Protocol-Version: 2.0.0`;
                                 201 with the post's URN in `x-restli-id`; 401 for a bad or expired
                                 token, 403 for another member's author URN, 422 for invalid content
  GET  /rest/memberCreatorPostAnalytics?q=entity&entity=(share:<urn>)&queryType=...&aggregation=TOTAL
"""

from __future__ import annotations

import contextlib
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlencode

from testing.fake_http import HttpRequest, HttpServer, Responder, serve_in_thread

ACCESS_TOKEN_SECONDS = 60 * 24 * 3600
REFRESH_TOKEN_SECONDS = 365 * 24 * 3600
CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"  # noqa: S105 - the fake's own test credential
_VERSION = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class RecordedPost:
    urn: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float  # time.time() on arrival


@dataclass
class Member:
    sub: str
    name: str


@dataclass
class Token:
    member: Member
    expires_at: float
    scope: str


@dataclass
class FakeState:
    member: Member = field(default_factory=lambda: Member(sub="fake-member-1", name="Ana Souza"))
    refresh_tokens: bool = True  # LinkedIn grants refresh tokens to approved partners only
    codes: dict[str, tuple[str, str]] = field(default_factory=dict)  # code -> (redirect_uri, scope)
    tokens: dict[str, Token] = field(default_factory=dict)
    refresh: dict[str, Token] = field(default_factory=dict)
    posts: list[RecordedPost] = field(default_factory=list)
    post_failures: list[dict[str, Any]] = field(default_factory=list)
    revoke_failures: list[dict[str, Any]] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)  # tokens revoked, access and refresh alike
    statistics: dict[str, dict[str, int]] = field(default_factory=dict)  # urn -> {"IMPRESSION": n, ...}
    deny_next_consent: bool = False
    calls: list[tuple[str, str]] = field(default_factory=list)  # (method, path) of every request


class FakeLinkedIn:
    """A handle on a running fake LinkedIn: its URLs, scripting and what it received."""

    def __init__(self, server: HttpServer, state: FakeState, lock: threading.Lock) -> None:
        self.url = f"http://127.0.0.1:{server.port}"
        self._state = state
        self._lock = lock
        self._ids = itertools.count(7_000_000_000_000_000_001)

    @classmethod
    @contextlib.contextmanager
    def start(cls) -> Iterator[FakeLinkedIn]:
        state, lock = FakeState(), threading.Lock()
        with serve_in_thread("fake-linkedin", lambda server: cls(server, state, lock)) as handle:
            yield handle

    # ---- what Maestro's settings should say --------------------------------------------------------

    def settings(self, *, redirect_uri: str = "http://testserver/publishing/linkedin/callback/") -> dict:
        return {
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "redirect_uri": redirect_uri,
            "scopes": "openid profile w_member_social r_member_postAnalytics",
            "oauth_url": f"{self.url}/oauth/v2",
            "api_url": self.url,
            "version": "202511",
        }

    def environment(self, *, redirect_uri: str) -> dict[str, str]:
        """The same as environment variables, for a worker process."""
        conf = self.settings(redirect_uri=redirect_uri)
        return {f"MAESTRO_LINKEDIN_{name.upper()}": value for name, value in conf.items()}

    # ---- scripting ---------------------------------------------------------------------------------

    def reset(self) -> None:
        with self._lock:
            fresh = FakeState()
            for name in fresh.__dataclass_fields__:
                setattr(self._state, name, getattr(fresh, name))

    def set_member(self, *, sub: str, name: str) -> None:
        with self._lock:
            self._state.member = Member(sub=sub, name=name)

    def grant_refresh_tokens(self, grant: bool) -> None:
        with self._lock:
            self._state.refresh_tokens = grant

    def deny_next_consent(self) -> None:
        with self._lock:
            self._state.deny_next_consent = True

    def fail_next_post(self, status: int, *, message: str = "", retry_after: str | None = None) -> None:
        """The next POST /rest/posts answers `status` (one-shots, first in first out)."""
        with self._lock:
            self._state.post_failures.append(
                {"status": status, "message": message, "retry_after": retry_after}
            )

    def fail_next_revoke(self, status: int, *, message: str = "", retry_after: str | None = None) -> None:
        """The next POST /oauth/v2/revoke answers `status` and revokes nothing (one-shots, in order)."""
        with self._lock:
            self._state.revoke_failures.append(
                {"status": status, "message": message, "retry_after": retry_after}
            )

    def expire_tokens(self) -> None:
        """Every access token issued so far is now expired (LinkedIn answers 401)."""
        with self._lock:
            for token in self._state.tokens.values():
                token.expires_at = time.time() - 1

    def issue_token(self, *, expires_in: float = ACCESS_TOKEN_SECONDS) -> str:
        """An access token for the current member, as if the consent had happened."""
        token = f"fake-at-{secrets.token_urlsafe(12)}"
        with self._lock:
            self._state.tokens[token] = Token(self._state.member, time.time() + expires_in, "w_member_social")
        return token

    def set_statistics(self, urn: str, **counts: int) -> None:
        """What memberCreatorPostAnalytics answers for a post (impressions=, reactions=, ...)."""
        names = {
            "impressions": "IMPRESSION",
            "reactions": "REACTION",
            "comments": "COMMENT",
            "reposts": "RESHARE",
        }
        with self._lock:
            self._state.statistics[urn] = {names[name]: value for name, value in counts.items()}

    # ---- inspection --------------------------------------------------------------------------------

    def posts(self) -> list[RecordedPost]:
        with self._lock:
            return list(self._state.posts)

    def calls(self, path: str | None = None) -> list[tuple[str, str]]:
        with self._lock:
            return [call for call in self._state.calls if path is None or call[1] == path]

    def live_tokens(self) -> int:
        with self._lock:
            return sum(1 for token in self._state.tokens.values() if token.expires_at > time.time())

    def revoked(self) -> set[str]:
        """Every token revoked so far (access and refresh)."""
        with self._lock:
            return set(self._state.revoked)

    def token_works(self, token: str) -> bool:
        """Whether LinkedIn would take this access token (or this refresh token) now."""
        with self._lock:
            found = self._state.tokens.get(token) or self._state.refresh.get(token)
            return found is not None and found.expires_at > time.time()

    # ---- the server side (runs on the server's loop thread) ----------------------------------------

    async def _handle(self, request: HttpRequest, responder: Responder) -> None:
        with self._lock:
            self._state.calls.append((request.method, request.path))
            status, body, headers = self._route(request)
        if isinstance(body, bytes):
            await responder.send(status, body, headers)
        else:
            await responder.send_json(status, body, headers)

    def _route(self, request: HttpRequest) -> tuple[int, Any, dict[str, str]]:
        routes = {
            ("GET", "/oauth/v2/authorization"): self._authorize,
            ("POST", "/oauth/v2/accessToken"): self._access_token,
            ("POST", "/oauth/v2/revoke"): self._revoke,
            ("GET", "/v2/userinfo"): self._userinfo,
            ("POST", "/rest/posts"): self._create_post,
            ("GET", "/rest/memberCreatorPostAnalytics"): self._statistics,
        }
        route = routes.get((request.method, request.path))
        if route is None:
            return _error(404, "RESOURCE_NOT_FOUND", f"No {request.method} {request.path}")
        return route(request)

    def _authorize(self, request: HttpRequest) -> tuple[int, Any, dict[str, str]]:
        query = {name: values[0] for name, values in parse_qs(request.query).items()}
        if query.get("client_id") != CLIENT_ID or query.get("response_type") != "code":
            return 400, b"invalid client_id or response_type", {"content-type": "text/plain"}
        redirect_uri, state = query.get("redirect_uri", ""), query.get("state", "")
        if self._state.deny_next_consent:
            self._state.deny_next_consent = False
            answer = {
                "error": "user_cancelled_authorize",
                "error_description": "The member declined",
                "state": state,
            }
        else:
            code = f"fake-code-{secrets.token_urlsafe(8)}"
            self._state.codes[code] = (redirect_uri, query.get("scope", ""))
            answer = {"code": code, "state": state}
        return 302, b"", {"location": f"{redirect_uri}?{urlencode(answer)}"}

    def _client_ok(self, form: dict[str, str]) -> bool:
        return form.get("client_id") == CLIENT_ID and form.get("client_secret") == CLIENT_SECRET

    def _access_token(self, request: HttpRequest) -> tuple[int, Any, dict[str, str]]:
        form = {name: values[0] for name, values in parse_qs(request.body.decode()).items()}
        if not self._client_ok(form):
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}, {}
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = self._state.codes.pop(form.get("code", ""), None)
            if issued is None or issued[0] != form.get("redirect_uri"):
                return (
                    400,
                    {"error": "invalid_request", "error_description": "Unable to retrieve access token"},
                    {},
                )
            return 200, self._tokens(issued[1]), {}
        if grant == "refresh_token":
            old = self._state.refresh.pop(form.get("refresh_token", ""), None)
            if form.get("refresh_token", "") in self._state.revoked:
                return 400, {"error": "invalid_grant", "error_description": "The token has been revoked"}, {}
            if old is None:
                return (
                    400,
                    {"error": "invalid_request", "error_description": "The token used is not valid"},
                    {},
                )
            return 200, self._tokens(old.scope), {}
        return 400, {"error": "unsupported_grant_type", "error_description": str(grant)}, {}

    def _tokens(self, scope: str) -> dict[str, Any]:
        access = f"fake-at-{secrets.token_urlsafe(12)}"
        self._state.tokens[access] = Token(self._state.member, time.time() + ACCESS_TOKEN_SECONDS, scope)
        answer: dict[str, Any] = {"access_token": access, "expires_in": ACCESS_TOKEN_SECONDS, "scope": scope}
        if self._state.refresh_tokens:
            refresh = f"fake-rt-{secrets.token_urlsafe(12)}"
            self._state.refresh[refresh] = Token(
                self._state.member, time.time() + REFRESH_TOKEN_SECONDS, scope
            )
            answer |= {"refresh_token": refresh, "refresh_token_expires_in": REFRESH_TOKEN_SECONDS}
        return answer

    def _revoke(self, request: HttpRequest) -> tuple[int, Any, dict[str, str]]:
        form = {name: values[0] for name, values in parse_qs(request.body.decode()).items()}
        if not self._client_ok(form):
            return 401, {"error": "invalid_client", "error_description": "Client authentication failed"}, {}
        if self._state.revoke_failures:
            failure = self._state.revoke_failures.pop(0)
            headers = {"retry-after": failure["retry_after"]} if failure["retry_after"] else {}
            status, answer, _ = _error(
                failure["status"], "SCRIPTED", failure["message"] or "scripted failure"
            )
            return status, answer, headers
        token = form.get("token", "")
        if not token:
            return 400, {"error": "invalid_request", "error_description": "token is required"}, {}
        known = self._state.tokens.pop(token, None) or self._state.refresh.pop(token, None)
        if known is not None:
            self._state.revoked.add(token)
        return 200, b"", {}

    def _bearer(self, request: HttpRequest) -> str:
        header = request.headers.get("authorization", "")
        return header.removeprefix("Bearer ").strip() if header.startswith("Bearer ") else ""

    def _member_of(self, request: HttpRequest) -> Member | None:
        token = self._state.tokens.get(self._bearer(request))
        if token is None or token.expires_at <= time.time():
            return None
        return token.member

    def _unauthorized(self, request: HttpRequest) -> tuple[int, Any, dict[str, str]]:
        if self._bearer(request) in self._state.revoked:
            return _error(401, "REVOKED_ACCESS_TOKEN", "The token used in the request has been revoked")
        return _error(401, "INVALID_ACCESS_TOKEN", "Invalid access token")

    def _userinfo(self, request: HttpRequest) -> tuple[int, Any, dict[str, str]]:
        member = self._member_of(request)
        if member is None:
            return self._unauthorized(request)
        given, _, family = member.name.partition(" ")
        return 200, {"sub": member.sub, "name": member.name, "given_name": given, "family_name": family}, {}

    def _rest_headers_error(self, request: HttpRequest) -> tuple[int, Any, dict[str, str]] | None:
        if not _VERSION.match(request.headers.get("linkedin-version", "")):
            return _error(426, "VERSION_MISSING", "A LinkedIn-Version header (YYYYMM) is required")
        if request.headers.get("x-restli-protocol-version") != "2.0.0":
            return _error(400, "PROTOCOL_VERSION", "X-Restli-Protocol-Version: 2.0.0 is required")
        return None

    def _create_post(self, request: HttpRequest) -> tuple[int, Any, dict[str, str]]:
        if (refused := self._rest_headers_error(request)) is not None:
            return refused
        member = self._member_of(request)
        if member is None:
            return self._unauthorized(request)
        if self._state.post_failures:
            failure = self._state.post_failures.pop(0)
            headers = {"retry-after": failure["retry_after"]} if failure["retry_after"] else {}
            status, answer, _ = _error(
                failure["status"], "SCRIPTED", failure["message"] or "scripted failure"
            )
            return status, answer, headers
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return _error(400, "INVALID_JSON", "The body is not JSON")
        if (invalid := _invalid_post(body, member)) is not None:
            return invalid
        urn = f"urn:li:share:{next(self._ids)}"
        self._state.posts.append(RecordedPost(urn, dict(request.headers), body, time.time()))
        return 201, b"", {"x-restli-id": urn}

    def _statistics(self, request: HttpRequest) -> tuple[int, Any, dict[str, str]]:
        if (refused := self._rest_headers_error(request)) is not None:
            return refused
        if self._member_of(request) is None:
            return self._unauthorized(request)
        query = {name: values[0] for name, values in parse_qs(request.query).items()}
        match = re.fullmatch(r"\((share|ugcPost):(.+)\)", query.get("entity", ""))
        if query.get("q") != "entity" or match is None or query.get("aggregation") != "TOTAL":
            return _error(
                400, "INVALID_QUERY", "q=entity, entity=(share:<urn>) and aggregation=TOTAL expected"
            )
        urn, metric = unquote(match[2]), query.get("queryType", "")
        count = self._state.statistics.get(urn, {}).get(metric, 0)
        element = {
            "count": count,
            "metricType": {
                "com.linkedin.adsexternalapi.memberanalytics.v1.CreatorPostAnalyticsMetricTypeV1": metric
            },
            "targetEntity": {match[1]: urn},
        }
        return 200, {"elements": [element], "paging": {"count": 10, "start": 0, "links": []}}, {}


def _invalid_post(body: Any, member: Member) -> tuple[int, Any, dict[str, str]] | None:
    if not isinstance(body, dict):
        return _error(400, "INVALID_BODY", "The body is an object")
    if body.get("author") != f"urn:li:person:{member.sub}":
        return _error(403, "ACCESS_DENIED", f"Not enough permissions to post as {body.get('author')}")
    commentary = body.get("commentary")
    if not isinstance(commentary, str) or not commentary.strip() or len(commentary) > 3000:
        return _error(422, "FIELD_VALUE_INVALID", "/commentary: 1 to 3000 characters required")
    if body.get("lifecycleState") != "PUBLISHED" or body.get("visibility") not in ("PUBLIC", "CONNECTIONS"):
        return _error(422, "FIELD_VALUE_INVALID", "/lifecycleState or /visibility is invalid")
    if not isinstance(body.get("distribution"), dict):
        return _error(422, "FIELD_MISSING", "/distribution is required")
    return None


def _error(status: int, code: str, message: str) -> tuple[int, Any, dict[str, str]]:
    return status, {"status": status, "serviceErrorCode": 100, "code": code, "message": message}, {}
