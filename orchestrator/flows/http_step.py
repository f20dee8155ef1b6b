"""What an HTTP step sends, built once for the real call and for a dry run's preview.

The body is the flow's context as compact JSON (keys sorted); its exact bytes are what is signed and
sent. A step may add headers (`"headers": {"Authorization": "Bearer {secret}"}`: `{secret}` is replaced
by the step's secret) and sign the body (`"sign": true`) the way Maestro's webhooks are signed:

    X-Maestro-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{body}")>

(`webhooks.delivery.sign`; a receiver verifies as docs/flows-and-reviews.md shows). The secret itself
never leaves this module in the clear: previews mask it, and whatever the receiver answers is
scrubbed of it before the step's output is stored.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from orchestrator.flows.definitions import SECRET_PLACEHOLDER, SIGNATURE_HEADER
from webhooks.delivery import sign

USER_AGENT = "Maestro-Flows/1"
SCRUBBED = "[secret]"


@dataclass(frozen=True)
class OutgoingRequest:
    url: str
    headers: dict[str, str]
    body: bytes


def request_body(payload: dict) -> str:
    return json.dumps(payload, separators=(",", ":"), sort_keys=True)


def build_request(
    *, url: str, payload: dict, headers: dict[str, str], secret: str, sign_body: bool, now: int | None = None
) -> OutgoingRequest:
    """The request as it goes out: the step's headers (secret filled in), then Maestro's own."""
    body = request_body(payload)
    outgoing = {name: value.replace(SECRET_PLACEHOLDER, secret) for name, value in headers.items()}
    outgoing |= {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if sign_body:
        timestamp = int(time.time()) if now is None else now
        outgoing[SIGNATURE_HEADER] = sign(secret=secret, body=body, timestamp=timestamp)
    return OutgoingRequest(url=url, headers=outgoing, body=body.encode())


def preview_request(
    *, url: str, payload: dict, headers: dict[str, str], secret_label: str, sign_body: bool
) -> dict:
    """What a dry run shows: the same request with the secret as `secret_label` (its name and mask)
    and the signature described, not computed (the secret is not even decrypted)."""
    body = request_body(payload)
    shown = {name: value.replace(SECRET_PLACEHOLDER, secret_label) for name, value in headers.items()}
    shown |= {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    if sign_body:
        shown[SIGNATURE_HEADER] = f"t=<unix seconds>,v1=<HMAC-SHA256 with {secret_label} of t.body>"
    return {"method": "POST", "url": url, "headers": shown, "body": body}


def scrub(value: object, secret: str) -> object:
    """`value` (a receiver's answer, an error) with every occurrence of the secret replaced."""
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, SCRUBBED)
    if isinstance(value, list):
        return [scrub(item, secret) for item in value]
    if isinstance(value, dict):
        return {scrub(key, secret): scrub(item, secret) for key, item in value.items()}
    return value
