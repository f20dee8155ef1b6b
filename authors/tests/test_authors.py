"""Authors and style cards in the browser: CRUD, immutable versions, roles, tenant isolation, and
onboarding from sample posts through the real gateway against the fake provider over HTTP."""

from __future__ import annotations

import json
import re
import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.http import Http404

from authors import demo
from authors import selectors as author_selectors
from authors import services as authors
from authors.models import Author, StyleProfile
from authors.services import style_profile_save
from authors.tests.factories import make_author, make_style_profile
from gateway.catalog import forget_catalog
from gateway.models import Budget, TenantPolicy, Trace
from gateway.tests.gateway_support import register_fake_models
from prompts.services import prompt_defaults_install
from tenants.context import cross_tenant_access, tenant_scope
from tenants.roles import Role
from testing.fake_server import Behaviour

pytestmark = pytest.mark.django_db

POSTS = [
    "We lost our biggest customer in March.\n\nNot to a competitor. To a spreadsheet.",
    "Three things I got wrong about hiring:\n1. Big brands.\n2. Early playbooks.\n3. Paying for activity.",
    "Our board asked why we are not doing AI.\n\nWe are. We just don't put it on the homepage.",
]
CARD = {
    "tone": "Candid, short sentences, opens with a loss.",
    "vocabulary_prefer": ["customers", "habit"],
    "vocabulary_avoid": ["synergy"],
    "banned_phrases": ["Agree?"],
    "formatting": {
        "length": "120-200 words",
        "paragraphs": "one line each",
        "emoji": "none",
        "hashtags": "none",
    },
    "sample_insights": ["Opens with a loss: 'We lost our biggest customer'"],
}


def url(tenant, name: str = "", **parts) -> str:
    path = {
        "": "authors/",
        "new": "authors/new/",
        "detail": "authors/{author_id}/",
        "edit": "authors/{author_id}/edit/",
        "style": "authors/{author_id}/style/",
        "extract": "authors/{author_id}/style/extract/",
        "compare": "authors/{author_id}/style/compare/",
        "version": "authors/{author_id}/style/v{version}/",
    }[name]
    return f"/t/{tenant.slug}/" + path.format(**parts)


def card_post(**overrides) -> dict:
    data = {
        "tone": "Warm and plain.",
        "vocabulary_prefer": "customers\n  habit \n\ncustomers",
        "vocabulary_avoid": "synergy",
        "banned_phrases": "Agree?\nLet that sink in",
        "length": "120-200 words",
        "emoji": "none",
        "hashtags": "at most 2",
        "line_breaks": "blank line between ideas",
        "lists": "",
        "formatting_notes": "",
        "sample_posts": "First post.\n---\nSecond post\nwith two lines.",
        "source": "manual",
        "base_version": "",
    }
    return {**data, **overrides}


def profiles(tenant, author) -> list[StyleProfile]:
    with tenant_scope(tenant):
        return list(StyleProfile.objects.filter(author=author).order_by("version"))


# --- Authors -------------------------------------------------------------------------------------


def test_editor_adds_an_author_who_then_appears_in_the_list(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.EDITOR])
    response = client.post(
        url(tenant_a, "new"),
        {"name": "Maya Chen", "headline": "CEO at Loopline", "audience": "SaaS founders", "language": "en"},
    )
    with tenant_scope(tenant_a):
        author = Author.objects.get(name="Maya Chen")
    assert response.status_code == 302
    assert response.url == url(tenant_a, "detail", author_id=author.pk)
    listing = client.get(url(tenant_a)).content.decode()
    assert "Maya Chen" in listing
    assert "CEO at Loopline" in listing
    assert "none yet" in listing  # no style card yet


def test_editor_edits_an_authors_details_and_a_taken_name_is_refused(client_for, members_a, tenant_a):
    ana = make_author(tenant=tenant_a, name="Ana Souza")
    make_author(tenant=tenant_a, name="Bruno Lima")
    client = client_for(members_a[Role.EDITOR])
    form = {"name": "Ana Souza", "headline": "CFO", "audience": "", "language": "pt-BR", "is_active": "on"}
    assert client.post(url(tenant_a, "edit", author_id=ana.pk), form).status_code == 302
    ana.refresh_from_db()
    assert (ana.headline, ana.language) == ("CFO", "pt-BR")
    clash = client.post(url(tenant_a, "edit", author_id=ana.pk), {**form, "name": "bruno lima"})
    assert clash.status_code == 200
    assert "already exists" in clash.content.decode()


def test_a_language_that_is_not_a_language_code_is_refused(client_for, members_a, tenant_a):
    client = client_for(members_a[Role.EDITOR])
    response = client.post(url(tenant_a, "new"), {"name": "X", "language": "english please"})
    assert response.status_code == 200
    assert "language code" in response.content.decode()
    with tenant_scope(tenant_a):
        assert not Author.objects.exists()


# --- Style card versions -------------------------------------------------------------------------


def test_every_save_makes_a_new_version_and_earlier_versions_never_change(client_for, members_a, tenant_a):
    author = make_author(tenant=tenant_a)
    client = client_for(members_a[Role.EDITOR])
    assert client.post(url(tenant_a, "style", author_id=author.pk), card_post()).status_code == 302
    second = card_post(tone="Sharper.", banned_phrases="Agree?", base_version="1")
    assert client.post(url(tenant_a, "style", author_id=author.pk), second).status_code == 302

    v1, v2 = profiles(tenant_a, author)
    assert (v1.version, v2.version) == (1, 2)
    assert v1.tone == "Warm and plain."
    assert v1.vocabulary_prefer == ["customers", "habit"]  # one per line, trimmed, no duplicates
    assert v1.banned_phrases == ["Agree?", "Let that sink in"]
    assert v1.formatting == {
        "length": "120-200 words",
        "emoji": "none",
        "hashtags": "at most 2",
        "line_breaks": "blank line between ideas",
    }
    assert v1.sample_posts == ["First post.", "Second post\nwith two lines."]
    assert v1.source == "manual"
    assert v1.created_by == members_a[Role.EDITOR].user
    assert (v2.tone, v2.banned_phrases) == ("Sharper.", ["Agree?"])
    with tenant_scope(tenant_a):
        assert author_selectors.current_style_profile(author=author) == v2


def test_the_card_form_starts_from_the_current_version(client_for, members_a, tenant_a):
    author = make_author(tenant=tenant_a)
    make_style_profile(tenant=tenant_a, author=author, tone="Old tone")
    make_style_profile(
        tenant=tenant_a,
        author=author,
        tone="Current tone",
        vocabulary_avoid=["synergy", "leverage"],
        formatting={"emoji": "rare", "paragraphs": "short"},
        sample_posts=["One.", "Two."],
    )
    response = client_for(members_a[Role.EDITOR]).get(url(tenant_a, "style", author_id=author.pk))
    initial = response.context["form"].initial
    assert initial["tone"] == "Current tone"
    assert initial["vocabulary_avoid"] == "synergy\nleverage"
    assert initial["emoji"] == "rare"
    assert initial["formatting_notes"] == "paragraphs: short"  # unknown keys are kept, as notes
    assert initial["sample_posts"] == "One.\n\n---\n\nTwo."
    assert initial["base_version"] == 2


def test_saving_on_top_of_a_version_someone_else_saved_warns_but_keeps_both(client_for, members_a, tenant_a):
    author = make_author(tenant=tenant_a)
    make_style_profile(tenant=tenant_a, author=author)
    make_style_profile(tenant=tenant_a, author=author)  # saved while our editor had v1 open
    client = client_for(members_a[Role.EDITOR])
    response = client.post(
        url(tenant_a, "style", author_id=author.pk), card_post(base_version="1"), follow=True
    )
    assert "Someone else saved a version" in response.content.decode()
    assert [p.version for p in profiles(tenant_a, author)] == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_get_consecutive_version_numbers(tenant_a):
    author = make_author(tenant=tenant_a)
    start, errors = threading.Barrier(8), []

    def save(index: int) -> None:
        try:
            start.wait()
            with tenant_scope(tenant_a):
                style_profile_save(author=author, created_by=None, tone=f"editor {index}")
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    saved = profiles(tenant_a, author)
    assert [p.version for p in saved] == list(range(1, 9))
    assert len({p.tone for p in saved}) == 8


def test_a_version_page_is_read_only_and_two_versions_can_be_compared(client_for, members_a, tenant_a):
    author = make_author(tenant=tenant_a)
    make_style_profile(tenant=tenant_a, author=author, tone="Calm.", banned_phrases=["Agree?"])
    make_style_profile(tenant=tenant_a, author=author, tone="Bold.", banned_phrases=["Agree?", "Synergy"])
    client = client_for(members_a[Role.VIEWER])

    page = client.get(url(tenant_a, "version", author_id=author.pk, version=1))
    assert page.status_code == 200
    assert "Calm." in page.content.decode()
    assert client.post(url(tenant_a, "version", author_id=author.pk, version=1)).status_code == 405
    assert client.get(url(tenant_a, "version", author_id=author.pk, version=3)).status_code == 404

    compare = url(tenant_a, "compare", author_id=author.pk) + "?a=1&b=2"
    lines = [(line.kind, line.text) for line in client.get(compare).context["lines"]]
    assert ("removed", "Calm.") in lines
    assert ("added", "Bold.") in lines
    assert ("added", "Synergy") in lines
    fragment = client.get(compare, HTTP_HX_REQUEST="true").content.decode()
    assert '<span class="added">+ Synergy</span>' in fragment
    assert "<html" not in fragment  # htmx gets the fragment alone


def test_the_author_page_shows_the_current_card_and_the_history(client_for, members_a, tenant_a):
    author = make_author(tenant=tenant_a, name="Maya Chen")
    make_style_profile(tenant=tenant_a, author=author, tone="First tone.")
    make_style_profile(tenant=tenant_a, author=author, tone="Second tone.", vocabulary_prefer=["habit"])
    page = client_for(members_a[Role.VIEWER]).get(url(tenant_a, "detail", author_id=author.pk))
    html = page.content.decode()
    assert page.context["profile"].version == 2
    assert "Second tone." in html
    assert "First tone." not in html  # older versions are a click away, not mixed in
    assert [p.version for p in page.context["history"]] == [2, 1]
    assert "Edit style card" not in html  # a viewer gets no edit buttons


# --- Roles and tenants ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", [Role.WRITER, Role.VIEWER])
def test_writers_and_viewers_read_authors_but_cannot_change_them(client_for, members_a, tenant_a, role):
    author = make_author(tenant=tenant_a, name="Maya Chen")
    make_style_profile(tenant=tenant_a, author=author)
    client = client_for(members_a[role])
    for readable in (url(tenant_a), url(tenant_a, "detail", author_id=author.pk)):
        assert client.get(readable).status_code == 200
    forms = ("edit", "style", "extract")
    for name in forms:
        assert client.get(url(tenant_a, name, author_id=author.pk)).status_code == 403
    assert client.post(url(tenant_a, "new"), {"name": "Intruder", "language": "en"}).status_code == 403
    assert client.post(url(tenant_a, "style", author_id=author.pk), card_post()).status_code == 403
    assert (
        client.post(url(tenant_a, "extract", author_id=author.pk), {"samples": "a\n---\nb"}).status_code
        == 403
    )
    assert len(profiles(tenant_a, author)) == 1
    with tenant_scope(tenant_a):
        assert list(Author.objects.values_list("name", flat=True)) == ["Maya Chen"]


def test_another_tenants_authors_are_neither_listed_nor_reachable(client_for, members_a, tenant_a, tenant_b):
    theirs = make_author(tenant=tenant_b, name="Secret CEO")
    make_style_profile(tenant=tenant_b, author=theirs)
    client = client_for(members_a[Role.ADMIN])
    assert "Secret CEO" not in client.get(url(tenant_a)).content.decode()
    for name in ("detail", "edit", "style", "extract", "compare"):
        assert client.get(url(tenant_a, name, author_id=theirs.pk)).status_code == 404
    assert client.get(url(tenant_a, "version", author_id=theirs.pk, version=1)).status_code == 404
    assert client.post(url(tenant_a, "style", author_id=theirs.pk), card_post()).status_code == 404
    assert len(profiles(tenant_b, theirs)) == 1


def test_selectors_never_return_another_tenants_cards(tenant_a, tenant_b):
    theirs = make_style_profile(tenant=tenant_b)
    with tenant_scope(tenant_a):
        with pytest.raises(Http404, match=re.escape("No Author matches the given query.")):
            author_selectors.access_author(author_id=theirs.author_id)
        with pytest.raises(Http404, match=re.escape("No StyleProfile matches the given query.")):
            author_selectors.access_style_profile(author=theirs.author, version=1)
        assert list(author_selectors.style_profile_history(author=theirs.author)) == []
        assert list(author_selectors.authors_with_versions()) == []


def test_demo_seed_adds_two_authors_with_a_card_each_and_changes_nothing_twice(tenant_a):
    with tenant_scope(tenant_a):
        demo.seed(tenant=tenant_a)
        demo.seed(tenant=tenant_a)
        seeded = list(author_selectors.authors_with_versions().order_by("name"))
    assert [(a.name, a.language, a.current_version) for a in seeded] == [
        ("Maya Chen", "en", 1),
        ("Rafael Nogueira", "pt-BR", 1),
    ]
    assert all(len(profiles(tenant_a, author)[0].sample_posts) == 3 for author in seeded)


# --- Parsing a model's answer --------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        json.dumps(CARD),
        "```json\n" + json.dumps(CARD, indent=2) + "\n```",
        "Here is the style card you asked for:\n" + json.dumps(CARD) + "\nLet me know if you need changes.",
        "Sure! {not json} and then ```\n" + json.dumps(CARD) + "\n```",
    ],
    ids=["bare", "fenced", "in-prose", "after-a-false-start"],
)
def test_a_card_is_found_in_bare_json_code_fences_or_prose(answer):
    extracted = authors.parse_style_card(answer)
    assert extracted.card["tone"] == CARD["tone"]
    assert extracted.card["banned_phrases"] == ["Agree?"]
    assert extracted.card["formatting"]["line_breaks"] == "one line each"  # "paragraphs" maps here
    assert extracted.insights == CARD["sample_insights"]
    assert extracted.warnings == []


def test_fields_of_the_wrong_type_are_dropped_with_a_warning_and_strings_become_lists():
    answer = json.dumps(
        {
            "tone": "Dry.",
            "vocabulary_prefer": "ship; customers\nhabit",
            "vocabulary_avoid": {"oops": 1},
            "banned_phrases": [None, "x"],
            "formatting": {"emoji": False, "hashtags": 3, "cadence": "weekly"},
        }
    )
    extracted = authors.parse_style_card(answer)
    assert extracted.card["vocabulary_prefer"] == ["ship", "customers", "habit"]
    assert extracted.card["vocabulary_avoid"] == []
    assert extracted.card["banned_phrases"] == []
    assert extracted.card["formatting"] == {"emoji": "no", "hashtags": "3", "notes": "cadence: weekly"}
    assert len(extracted.warnings) == 2
    assert any("vocabulary_avoid" in warning for warning in extracted.warnings)


NO_JSON_CARD = "The model did not answer with a JSON style card."
NO_USABLE_CARD = "The model's answer has no usable style card (no tone, vocabulary or formatting)."


@pytest.mark.parametrize(
    ("answer", "message", "code"),
    [
        ("I cannot help with that.", NO_JSON_CARD, "unparseable"),
        ('{"mood": "great"}', NO_USABLE_CARD, "unusable"),
        ("[1, 2, 3]", NO_JSON_CARD, "unparseable"),
        ('{"tone": ""}', NO_USABLE_CARD, "unusable"),
    ],
)
def test_an_answer_without_a_usable_card_is_an_error_that_keeps_the_raw_answer(answer, message, code):
    with pytest.raises(authors.StyleExtractionError, match=f"^{re.escape(message)}$") as caught:
        authors.parse_style_card(answer)
    assert caught.value.code == code
    assert caught.value.raw_answer == answer


def test_samples_are_split_on_lines_holding_only_dashes():
    text = "One\n---\nTwo -- still two\n  -----  \r\nThree\n---\n\n---\n"
    assert authors.split_samples(text) == ["One", "Two -- still two", "Three"]


# --- Onboarding through the gateway --------------------------------------------------------------


@pytest.fixture
def gateway_ready(settings, tenant_a, fake_provider):
    """Maestro's prompts, the fake models for tenant A, and Redis keys of this test's own."""
    settings.MAESTRO_GATEWAY = {"key_prefix": f"test-authors-{uuid.uuid4().hex[:10]}"}
    with cross_tenant_access("tests: Maestro's default prompts"):
        prompt_defaults_install()
    register_fake_models(tenant_a, fake_provider.base_url, cache_enabled=False)
    yield fake_provider
    forget_catalog()


def samples_text(posts=POSTS) -> str:
    return "\n---\n".join(posts)


def test_editor_onboards_an_author_from_samples_reviews_and_saves_the_card(
    client_for, members_a, tenant_a, gateway_ready
):
    gateway_ready.set_behaviour(Behaviour(text="Here you go:\n```json\n" + json.dumps(CARD) + "\n```"))
    author = make_author(tenant=tenant_a, name="Maya Chen", headline="CEO at Loopline")
    editor = members_a[Role.EDITOR]
    client = client_for(editor)

    review = client.post(url(tenant_a, "extract", author_id=author.pk), {"samples": samples_text()})
    assert review.status_code == 200
    html = review.content.decode()
    assert "Review the extracted style card" in html
    assert "Opens with a loss" in html  # the model's evidence is shown
    initial = review.context["form"].initial
    assert initial["tone"] == CARD["tone"]
    assert initial["vocabulary_prefer"] == "customers\nhabit"
    assert initial["line_breaks"] == "one line each"
    assert initial["source"] == "extracted"
    assert profiles(tenant_a, author) == []  # nothing is saved before the review

    sent = gateway_ready.requests()
    assert len(sent) == 1
    prompt = json.dumps(sent[0].body["messages"], ensure_ascii=False)
    # Redaction is on by default: the author's own name reaches the provider as a placeholder.
    assert "Maya Chen" not in prompt
    assert "[NAME_1]" in prompt
    assert "To a spreadsheet." in prompt
    with tenant_scope(tenant_a):
        trace = Trace.objects.get()
    assert (trace.purpose, trace.author_id, trace.user_id) == ("style_extraction", author.pk, editor.user_id)

    reviewed = {k: ("" if v is None else v) for k, v in initial.items()}
    reviewed["banned_phrases"] += "\nLet that sink in"  # the editor corrects the card before saving
    saved = client.post(url(tenant_a, "style", author_id=author.pk), reviewed)
    assert saved.status_code == 302
    (profile,) = profiles(tenant_a, author)
    assert (profile.version, profile.source) == (1, StyleProfile.Source.EXTRACTED)
    assert profile.tone == CARD["tone"]
    assert profile.banned_phrases == ["Agree?", "Let that sink in"]
    assert profile.formatting["length"] == "120-200 words"
    assert profile.sample_posts == POSTS
    assert profile.created_by == editor.user


def test_a_garbage_answer_is_a_clear_error_with_the_raw_answer_and_the_samples_kept(
    client_for, members_a, tenant_a, gateway_ready
):
    gateway_ready.set_behaviour(Behaviour(text="As an AI language model I would describe the tone as nice."))
    author = make_author(tenant=tenant_a)
    response = client_for(members_a[Role.EDITOR]).post(
        url(tenant_a, "extract", author_id=author.pk), {"samples": samples_text()}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "did not answer with a JSON style card" in html
    assert "As an AI language model" in html  # the raw answer, so nothing is lost
    assert response.context["form"]["samples"].value() == samples_text()
    assert "To a spreadsheet." in html
    assert profiles(tenant_a, author) == []


def test_an_exhausted_budget_is_a_clear_402_message_with_the_samples_kept(
    client_for, members_a, tenant_a, gateway_ready
):
    with tenant_scope(tenant_a):
        Budget.objects.create(scope="tenant", period="day", limit=Decimal("0.000001"))
    forget_catalog()
    author = make_author(tenant=tenant_a)
    response = client_for(members_a[Role.EDITOR]).post(
        url(tenant_a, "extract", author_id=author.pk), {"samples": samples_text()}
    )
    html = response.content.decode()
    assert response.status_code == 402
    assert "AI budget is used up" in html
    assert "tenant daily budget" in html
    assert "To a spreadsheet." in html
    assert gateway_ready.requests() == []  # refused before any model was called


def test_a_rate_limit_says_when_to_try_again(client_for, members_a, tenant_a, gateway_ready):
    with tenant_scope(tenant_a):
        TenantPolicy.objects.filter(tenant=tenant_a).update(requests_per_minute=1)
    forget_catalog()
    gateway_ready.set_behaviour(Behaviour(text=json.dumps(CARD)))
    author = make_author(tenant=tenant_a)
    client = client_for(members_a[Role.EDITOR])
    first = client.post(url(tenant_a, "extract", author_id=author.pk), {"samples": samples_text()})
    assert first.status_code == 200
    second = client.post(url(tenant_a, "extract", author_id=author.pk), {"samples": samples_text(POSTS[:2])})
    assert second.status_code == 429
    assert "try again in" in second.content.decode()
    assert second.context["form"]["samples"].value() == samples_text(POSTS[:2])


def test_no_model_available_is_explained(client_for, members_a, tenant_a, settings):
    settings.MAESTRO_GATEWAY = {"key_prefix": f"test-authors-{uuid.uuid4().hex[:10]}"}
    with cross_tenant_access("tests: Maestro's default prompts"):
        prompt_defaults_install()
    forget_catalog()
    author = make_author(tenant=tenant_a)
    response = client_for(members_a[Role.EDITOR]).post(
        url(tenant_a, "extract", author_id=author.pk), {"samples": samples_text()}
    )
    assert response.status_code == 503
    assert "No model can take this call" in response.content.decode()


@pytest.mark.parametrize(
    ("samples", "error"),
    [
        (POSTS[0], "at least 2 posts"),
        ("\n---\n".join(["word " * 2_000] * 3), "the limit is 20,000"),
        ("\n---\n".join(["short"] * 11), "at most 10 posts"),
    ],
    ids=["one-post", "too-long", "too-many"],
)
def test_too_few_or_too_long_samples_are_refused_before_any_model_call(
    client_for, members_a, tenant_a, gateway_ready, samples, error
):
    author = make_author(tenant=tenant_a)
    response = client_for(members_a[Role.EDITOR]).post(
        url(tenant_a, "extract", author_id=author.pk), {"samples": samples}
    )
    assert response.status_code == 200
    assert error in response.content.decode()
    assert gateway_ready.requests() == []
