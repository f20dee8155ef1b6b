"""Schemathesis' engine (what `st run` drives) over HTTP against a live server: every phase (examples,
coverage, fuzzing, stateful) and every check; returns what failed, one line per failure.

The full run is a command (docs/reliability.md):

    MAESTRO_SCHEMATHESIS_FULL=1 MAESTRO_TEST_DB=test_schemathesis \\
        .venv/bin/python -m pytest -q -p no:cacheprovider api/tests/test_schema.py -k full_run -s

The suite runs the same engine with fewer examples (test_schema.py).
"""

from __future__ import annotations

import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema


def config(*, headers: dict[str, str], max_examples: int, seed: int = 1) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": seed,
            # One request per connection: the live server's thread then closes its database connection
            # at once, instead of holding it for a keep-alive connection nobody closes.
            "headers": {**headers, "Connection": "close"},
            "generation": {"mode": "all", "max-examples": max_examples},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True},
            },
            "checks": {
                "enabled": True,
                # A request the schema cannot tell is wrong (a duplicate name, an end before its start)
                # answers 422; anything the schema can tell answers 400 and must be refused.
                "positive_data_acceptance": {
                    "expected-statuses": ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
                },
            },
            # A cursor is an opaque token the API hands out (in `next`); a made-up one is refused with a
            # 400 (api/tests/test_bad_input.py), so generated requests start from the first page.
            "parameters": {"query.cursor": ""},
            "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large"],
        }
    )


def run(
    *, base_url: str, headers: dict[str, str], max_examples: int, paths: str | None = None
) -> tuple[list[str], dict[str, int]]:
    """(failures, phases run with how many scenarios each); `paths`: a regex to test only some."""
    schema = schemathesis.openapi.from_url(
        f"{base_url}/api/schema/", config=config(headers=headers, max_examples=max_examples)
    )
    if paths:
        schema = schema.include(path_regex=paths)
    failures: list[str] = []
    scenarios: dict[str, int] = {}
    started: dict[str, float] = {}
    for event in from_schema(schema).execute():
        if isinstance(event, events.PhaseStarted):
            started[str(event.phase.name)] = event.timestamp
        elif isinstance(event, events.PhaseFinished) and str(event.phase.name) in started:
            seconds = event.timestamp - started[str(event.phase.name)]
            print(f"schemathesis phase {event.phase.name}: {seconds:.1f} s")
        elif isinstance(event, events.ScenarioFinished):
            scenarios[str(event.phase)] = scenarios.get(str(event.phase), 0) + 1
            failures += _failures_of(event)
        elif isinstance(event, events.NonFatalError):
            failures.append(f"error: {event.label}: {event.info.message}")
        elif isinstance(event, events.FatalError):
            failures.append(f"fatal: {event.exception!r}")
    return sorted(set(failures)), scenarios


def _failures_of(event: events.ScenarioFinished) -> list[str]:
    found = []
    for case_id, checks in event.recorder.checks.items():
        for check in checks:
            if check.status != Status.FAILURE or check.failure_info is None:
                continue
            case = event.recorder.cases[case_id].value
            failure = check.failure_info.failure
            response = event.recorder.find_response(case_id=case_id)
            status = response.status_code if response is not None else "-"
            sent = {"query": case.query, "body": case.body, "headers": _own_headers(case.headers)}
            answer = response.text[:200] if response is not None else ""
            found.append(
                f"{check.name}: {case.method} {case.formatted_path} -> {status}: {failure.title}; "
                f"sent {_short(sent)}; got {answer!r}"
            )
    return found


def _own_headers(headers) -> dict:
    return {k: v for k, v in (headers or {}).items() if k.lower() != "authorization"}


def _short(value: object, limit: int = 300) -> str:
    text = repr({k: v for k, v in value.items() if v} if isinstance(value, dict) else value)
    return text if len(text) <= limit else text[:limit] + "..."
