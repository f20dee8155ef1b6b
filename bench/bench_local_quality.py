"""What the local model path serves: drafts within the card's length, leaked prompt text, parseable
verdicts and style cards, on a fixed set of 12 briefs x 3 authors (one Portuguese).

    .venv/bin/python bench/bench_local_quality.py                    # the real local model if installed
    .venv/bin/python bench/bench_local_quality.py --fake             # a misbehaving fake provider
    .venv/bin/python bench/bench_local_quality.py --base-url http://127.0.0.1:8091/v1   # a running server

Two ways of calling the same model are compared:
- "before": what Maestro did until now (and still does for chat models): the prompt library's chat
  messages through the server's chat template, the prompt's max_tokens, no stop sequences, no
  schema, and the text as the model wrote it (trimmed);
- "after": what the flow steps do now (orchestrator/flows/steps.py): the completion-style document
  for a base model with stop sequences, max_tokens from the card's length and a frequency penalty,
  then `finish_text` (leaks removed, whole sentences within the budget); verdicts and style cards
  constrained to their JSON schemas, with one repair call when the answer still does not parse.

The calls go straight to the provider adapter (the gateway's budgets, traces and cache are not
what is measured here); the requests are built with the same functions the steps use.
The fake misbehaves like the small model: runaway length with "Post:" repeated, memory labels and
special tokens, broken JSON unless the request is constrained by a schema.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

import django  # noqa: E402

django.setup()
logging.getLogger("httpx").setLevel(logging.WARNING)

import httpx  # noqa: E402

from authors import demo as author_demo  # noqa: E402
from authors.services import (  # noqa: E402
    STYLE_CARD_MAX_TOKENS,
    STYLE_CARD_SCHEMA,
    ExtractedStyleCard,
    StyleExtractionError,
    _apply_measurements,
    join_samples,
    parse_style_card,
)
from gateway.providers.base import ChatRequest, Message, ProviderConfig, ProviderError, Timeouts  # noqa: E402
from gateway.providers.openai import OpenAIProvider  # noqa: E402
from orchestrator.flows.finishing import (  # noqa: E402
    clean_draft,
    fit_to_budget,
    guess_language,
    leak_markers,
    length_budget,
    max_tokens_for,
    primary_language,
)
from orchestrator.flows.steps import (  # noqa: E402
    TEXT_FREQUENCY_PENALTY,
    VERDICT_MAX_TOKENS,
    VERDICT_SCHEMA,
    parse_verdict,
)
from prompts.defaults import (  # noqa: E402
    CRITIQUE,
    POST,
    STYLE_EXTRACTION,
    json_repair_messages,
    post_document,
)
from prompts.models import PromptTemplate, PromptVersion  # noqa: E402
from prompts.rendering import render_version  # noqa: E402

SAM_POSTS = [
    "Our support queue hit 400 tickets on a Monday in May.\n\nWe did not hire. We read them.\n\n"
    "Sixty percent were the same question about invoices. We fixed the invoice page in a day.\n\n"
    "Tickets dropped by half the next week. Read before you hire.",
    "The best sales call I ever had was a customer telling me why she almost said no.\n\n"
    "Price was fine. Onboarding scared her: six weeks, two consultants.\n\nWe cut it to one week. "
    "Deals close faster now. Ask the people who almost left.",
]
AUTHORS = [{**spec["author"], "card": spec["card"]} for spec in author_demo.DEMO_AUTHORS] + [
    {
        "name": "Sam Rivera",
        "headline": "Founder at Northwind Billing",
        "audience": "Founders of small B2B software companies.",
        "language": "en",
        "card": {
            "tone": "Plain, practical, a story and a lesson.",
            "vocabulary_prefer": ["customers", "we fixed"],
            "vocabulary_avoid": ["synergy"],
            "banned_phrases": ["game-changer"],
            "formatting": {"length": "60-110 words", "emoji": "none", "hashtags": "none"},
            "sample_posts": SAM_POSTS,
        },
    }
]
BRIEFS_EN = [
    "Why we call every new customer in their first week",
    "What we learned from moving status meetings to written updates",
    "How we cut our cloud bill by 40% without slowing the product team",
    "The mistake we made pricing our first enterprise deal",
    "Why our support team reads every cancellation reason",
    "What a lost deal taught us about onboarding",
    "Hiring our first customer success manager: what we looked for",
    "Why we stopped sending a monthly newsletter",
    "The one metric our board asks about every quarter",
    "How a customer complaint became our best feature",
    "What we changed after our biggest outage",
    "Saying no to a feature our largest customer wanted",
]
BRIEFS_PT = [
    "Por que ligamos para cada cliente novo na primeira semana",
    "O que aprendemos trocando reuniões de status por atualizações escritas",
    "Como reduzimos a inadimplência sem aumentar os juros",
    "O erro que cometemos no preço do nosso primeiro cliente grande",
    "Por que o time de atendimento lê cada motivo de cancelamento",
    "O que um negócio perdido nos ensinou sobre onboarding",
    "Contratando a primeira pessoa de sucesso do cliente",
    "Por que paramos de mandar newsletter mensal",
    "O número que o conselho pergunta todo trimestre",
    "Como uma reclamação de cliente virou nossa melhor funcionalidade",
    "O que mudamos depois da nossa maior falha",
    "Dizer não a uma funcionalidade que o maior cliente queria",
]
MEMORIES = {
    "Maya Chen": ["Daily active usage is up 41% since we shipped the Monday digest."],
    "Rafael Nogueira": ["7 em cada 10 clientes abriram a primeira reserva de emergência."],
    "Sam Rivera": ["Sixty percent of support tickets were about invoices."],
}


def _version(prompt: dict) -> PromptVersion:
    template = PromptTemplate(purpose=prompt["purpose"], name="default")
    return PromptVersion(
        template=template, number=1, messages=prompt["messages"], variables=prompt["variables"]
    )


def _render(prompt: dict, values: dict) -> list[Message]:
    version = _version(prompt)
    declared = {variable["name"] for variable in version.variables}
    return render_version(version, {k: v for k, v in values.items() if k in declared})


def _style_card_text(card: dict) -> str:
    parts = [f"Tone: {card['tone']}"]
    for label, name in (
        ("Prefer", "vocabulary_prefer"),
        ("Avoid", "vocabulary_avoid"),
        ("Never write", "banned_phrases"),
    ):
        if card.get(name):
            parts.append(f"{label}: " + "; ".join(card[name]))
    parts.append("Formatting: " + "; ".join(f"{k}: {v}" for k, v in card["formatting"].items()))
    return "\n".join(parts)


def _values(author: dict, brief: str, draft: str = "") -> dict:
    return {
        "author_name": author["name"],
        "author_headline": author["headline"],
        "audience": author["audience"],
        "language": author["language"],
        "style_card": _style_card_text(author["card"]),
        "samples": "\n---\n".join(author["card"]["sample_posts"]),
        "memories": "\n".join(f"- {m}" for m in MEMORIES[author["name"]]),
        "brief": brief,
        "draft": draft,
    }


# ---- the model ------------------------------------------------------------------------------------


class Model:
    def __init__(self, base_url: str, model: str) -> None:
        self.client = httpx.AsyncClient(trust_env=False)
        self.provider = OpenAIProvider(ProviderConfig(kind="openai", base_url=base_url), self.client)
        self.model = model
        self.seconds: list[float] = []

    async def ask(self, request: ChatRequest) -> tuple[str, str | None]:
        timeouts = Timeouts(connect=5, first_token=300, between_chunks=120, total=600)
        started = time.perf_counter()
        try:
            result = await self.provider.complete(request, timeouts)
        except ProviderError as exc:
            return f"(provider error: {exc})", "error"
        finally:
            self.seconds.append(time.perf_counter() - started)
        return result.text, result.finish_reason

    def chat(self, messages: list[Message], **fields) -> ChatRequest:
        return ChatRequest(model=self.model, messages=messages, **fields)


# ---- one draft, before and after ------------------------------------------------------------------


@dataclass
class Draft:
    author: str
    brief: str
    text: str
    raw: str
    within: bool
    whole: bool
    leaked: list[str]
    raw_leaked: list[str]
    language_ok: bool | None
    verdict_parsed: bool = False
    verdict_first_try: bool = False
    notes: list[str] = field(default_factory=list)


def _language_ok(text: str, language: str) -> bool | None:
    found = guess_language(text)
    return None if found is None else found == primary_language(language)


async def draft_before(model: Model, author: dict, brief: str) -> Draft:
    messages = _render(POST, _values(author, brief))
    raw, _ = await model.ask(model.chat(messages, max_tokens=POST["max_tokens"], temperature=0.8))
    text = raw.strip()
    budget = length_budget(author["card"]["formatting"])
    instructions = messages[0].content
    return Draft(
        author=author["name"],
        brief=brief,
        text=text,
        raw=raw,
        within=bool(budget and budget.allows(text)),
        whole=fit_to_budget(text, None).complete and not fit_to_budget(text, None).trimmed,
        leaked=leak_markers(text, instructions=instructions),
        raw_leaked=leak_markers(raw, instructions=instructions),
        language_ok=_language_ok(text, author["language"]),
    )


async def draft_after(model: Model, author: dict, brief: str) -> Draft:
    card = author["card"]
    budget = length_budget(card["formatting"])
    document, stops = post_document(
        author_name=author["name"],
        author_headline=author["headline"],
        language=author["language"],
        brief=brief,
        samples=card["sample_posts"],
        facts=MEMORIES[author["name"]],
    )
    messages = _render(POST, _values(author, brief))
    instructions = messages[0].content
    request = model.chat(
        messages,
        prompt=document,
        stop=stops,
        max_tokens=max_tokens_for(budget, author["language"]) if budget else POST["max_tokens"],
        temperature=0.8,
        frequency_penalty=TEXT_FREQUENCY_PENALTY,
    )
    raw, _ = await model.ask(request)
    cleaned = clean_draft(raw, instructions=instructions)
    fitted = fit_to_budget(cleaned.text, budget)
    notes = []
    if not fitted.text:  # the step asks once more (steps._finished_answer)
        raw, _ = await model.ask(request)
        fitted = fit_to_budget(clean_draft(raw, instructions=instructions).text, budget)
        notes.append("retried: empty")
    return Draft(
        author=author["name"],
        brief=brief,
        text=fitted.text,
        raw=raw,
        within=bool(budget and budget.allows(fitted.text)),
        whole=fitted.complete,
        leaked=leak_markers(fitted.text, instructions=instructions),
        raw_leaked=leak_markers(raw, instructions=instructions),
        language_ok=_language_ok(fitted.text, author["language"]),
        notes=notes,
    )


async def verdict(model: Model, author: dict, draft: Draft, *, constrained: bool) -> None:
    messages = _render(CRITIQUE, _values(author, draft.brief, draft.text))
    fields = {"max_tokens": CRITIQUE["max_tokens"], "temperature": 0.2}
    if constrained:
        fields.update(response_schema=VERDICT_SCHEMA, schema_name="verdict", max_tokens=VERDICT_MAX_TOKENS)
    text, _ = await model.ask(model.chat(messages, **fields))
    parsed = parse_verdict(text)["passes"] is not None
    draft.verdict_first_try = parsed
    if not parsed and constrained:  # the step's repair call (steps._repair_verdict)
        repair = [
            Message(m["role"], m["content"])
            for m in json_repair_messages(
                task="judge a LinkedIn draft",
                answer=text,
                material=draft.text,
                schema_text=json.dumps(VERDICT_SCHEMA),
            )
        ]
        text, _ = await model.ask(
            model.chat(
                repair,
                response_schema=VERDICT_SCHEMA,
                schema_name="verdict",
                max_tokens=VERDICT_MAX_TOKENS,
                temperature=0.0,
            )
        )
        parsed = parse_verdict(text)["passes"] is not None
    draft.verdict_parsed = parsed


async def style_card(
    model: Model, author: dict, *, constrained: bool
) -> tuple[bool, bool, ExtractedStyleCard | None]:
    """(parsed at first try, usable in the end, the card)."""
    posts = author["card"]["sample_posts"]
    messages = _render(
        STYLE_EXTRACTION,
        {
            "author_name": author["name"],
            "author_headline": author["headline"],
            "language": author["language"],
            "samples": join_samples(posts),
        },
    )
    fields: dict = {"max_tokens": STYLE_EXTRACTION["max_tokens"], "temperature": 0.2}
    if constrained:
        fields.update(
            response_schema=STYLE_CARD_SCHEMA, schema_name="style_card", max_tokens=STYLE_CARD_MAX_TOKENS
        )
    text, _ = await model.ask(model.chat(messages, **fields))
    try:
        extracted = parse_style_card(text)
        first = True
    except StyleExtractionError:
        first, extracted = False, None
        if constrained:
            repair = [
                Message(m["role"], m["content"])
                for m in json_repair_messages(
                    task="describe an author's voice as a style card",
                    answer=text,
                    material=join_samples(posts)[:8000],
                    schema_text=json.dumps(STYLE_CARD_SCHEMA),
                )
            ]
            text, _ = await model.ask(model.chat(repair, **{**fields, "temperature": 0.0}))
            with contextlib.suppress(StyleExtractionError):
                extracted = parse_style_card(text)
    if extracted is not None and constrained:
        _apply_measurements(extracted, posts)
    return first, extracted is not None, extracted


# ---- the misbehaving fake ----------------------------------------------------------------------------

RUNAWAY = (
    "Post: (key_phrase) We call every new customer in week one because the first week decides who stays. "
    "It is not a sales call. We ask what they hoped to fix and what would make them leave. "
    "Most of them tell us. <start_of_image>Then we fix the first thing they named, the same week. "
    + " ".join(
        f"Customer number {n} told us what would make them leave, and we fixed it." for n in range(1, 31)
    )
    + "\n\nPost:\nWe call every new customer in week one. Post: (case) We call"
    + " every new customer again" * 40
)


def _script_fake(fake) -> None:
    from testing.fake_server import Behaviour

    fake.set_behaviour(Behaviour(text=RUNAWAY, constrained=True))  # JSON only when a schema constrains it


# ---- the table ----------------------------------------------------------------------------------------


def _share(values: list[bool | None]) -> str:
    known = [v for v in values if v is not None]
    return f"{sum(known) / len(known):6.0%} ({sum(known)}/{len(known)})" if known else "   n/a"


async def run(model: Model, briefs_per_author: int, before_per_author: int) -> None:
    after: list[Draft] = []
    before: list[Draft] = []
    for author in AUTHORS:
        briefs = (BRIEFS_PT if primary_language(author["language"]) == "pt" else BRIEFS_EN)[
            :briefs_per_author
        ]
        drafts = await asyncio.gather(*(draft_after(model, author, brief) for brief in briefs))
        await asyncio.gather(*(verdict(model, author, d, constrained=True) for d in drafts))
        after += drafts
        olds = await asyncio.gather(
            *(draft_before(model, author, brief) for brief in briefs[:before_per_author])
        )
        await asyncio.gather(*(verdict(model, author, d, constrained=False) for d in olds))
        before += olds
        print(f"  {author['name']}: {len(drafts)} drafts", file=sys.stderr, flush=True)
    cards_after = [await style_card(model, author, constrained=True) for author in AUTHORS]
    cards_before = (
        [await style_card(model, author, constrained=False) for author in AUTHORS]
        if before_per_author
        else []
    )

    print(f"\n{'':44} {'before':>16} {'after':>16}")
    rows = [
        ("drafts within the card's length", [d.within for d in before], [d.within for d in after]),
        ("drafts ending on a whole sentence", [d.whole for d in before], [d.whole for d in after]),
        (
            "drafts with leaked prompt text or labels",
            [bool(d.leaked) for d in before],
            [bool(d.leaked) for d in after],
        ),
        (
            "  (model output with leaks, before finishing)",
            [bool(d.raw_leaked) for d in before],
            [bool(d.raw_leaked) for d in after],
        ),
        (
            "drafts in the author's language (when told)",
            [d.language_ok for d in before],
            [d.language_ok for d in after],
        ),
        (
            "verdicts parsed at the first call",
            [d.verdict_first_try for d in before],
            [d.verdict_first_try for d in after],
        ),
        (
            "verdicts parsed (after a repair call)",
            [d.verdict_parsed for d in before],
            [d.verdict_parsed for d in after],
        ),
        ("style cards parsed at the first call", [c[0] for c in cards_before], [c[0] for c in cards_after]),
        (
            "style cards usable (after a repair call)",
            [c[1] for c in cards_before],
            [c[1] for c in cards_after],
        ),
    ]
    for label, old, new in rows:
        print(f"{label:44} {_share(old):>16} {_share(new):>16}")
    words = sorted(len(d.text.split()) for d in after)
    print(f"\nafter: draft length in words: min {words[0]}, median {words[len(words) // 2]}, max {words[-1]}")
    old_words = sorted(len(d.text.split()) for d in before)
    if old_words:
        print(
            f"before: draft length in words: min {old_words[0]}, "
            f"median {old_words[len(old_words) // 2]}, max {old_words[-1]}"
        )
    seconds = sorted(model.seconds)
    print(f"model calls: {len(seconds)}, median {seconds[len(seconds) // 2]:.1f} s, max {seconds[-1]:.1f} s")
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for d in after[:: max(1, len(after) // 3)][:3]:
        print(f"\n--- {d.author}: {d.brief} ({len(d.text.split())} words)\n{d.text}")
    card = next((c[2] for c in cards_after if c[2] is not None), None)
    if card is not None:
        print("\n--- a style card (after):", json.dumps(card.card, ensure_ascii=False)[:600])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--fake", action="store_true", help="a misbehaving fake provider instead of the model"
    )
    parser.add_argument("--base-url", help="an OpenAI-compatible server already running (e.g. llama-server)")
    parser.add_argument("--model", default="gemma3-270m")
    parser.add_argument("--briefs", type=int, default=12, help="briefs per author (at most 12)")
    parser.add_argument(
        "--before",
        type=int,
        default=None,
        help="briefs per author for 'before' (default: all with the fake, 3 with a model)",
    )
    args = parser.parse_args()
    with contextlib.ExitStack() as stack:
        base_url = args.base_url
        if args.fake:
            from testing.fake_provider import FakeProvider

            fake = stack.enter_context(FakeProvider.start())
            _script_fake(fake)
            base_url, name = fake.base_url, "a misbehaving fake provider"
        elif base_url is None:
            from config import local_model

            try:
                server = local_model.ensure_local_model_server(
                    port=int(os.environ.get("MAESTRO_LOCAL_MODEL_PORT", 8091))
                )
            except local_model.LocalModelError as exc:
                sys.exit(f"No local model ({exc}). Run with --fake for the fake provider.")
            stack.callback(server.stop)
            base_url, args.model = server.base_url, server.model_name
            name = f"the local model {server.model_name} at {base_url}"
        else:
            name = f"{args.model} at {base_url}"
        before = args.before if args.before is not None else (args.briefs if args.fake else 3)
        print(
            f"Local-model quality: {args.briefs} briefs x {len(AUTHORS)} authors (one Portuguese), "
            f"against {name}"
        )
        model = Model(base_url, args.model)
        asyncio.run(run(model, min(args.briefs, 12), before))


if __name__ == "__main__":
    main()
