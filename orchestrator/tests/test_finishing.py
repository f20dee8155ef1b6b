"""Finishing a draft: the card's length budget, what small models leak, whole sentences, languages."""

from __future__ import annotations

import pytest

from orchestrator.flows.finishing import (
    LengthBudget,
    clean_draft,
    draft_issues,
    fit_to_budget,
    guess_language,
    leak_markers,
    length_budget,
    max_tokens_for,
)


@pytest.mark.parametrize(
    ("length", "expected"),
    [
        ("120-200 words", (120, 200, "words")),
        ("120\u2013200 words", (120, 200, "words")),
        ("short: 80 to 150 words", (80, 150, "words")),
        ("under 150 words", (0, 150, "words")),
        ("150 palavras ou menos", (0, 150, "words")),
        ("about 100 words", (80, 120, "words")),
        ("1,300 characters max", (0, 1300, "characters")),
        ("entre 100 e 180 palavras", (100, 180, "words")),
    ],
)
def test_the_cards_length_becomes_a_budget(length, expected):
    budget = length_budget({"length": length})
    assert budget is not None
    assert (budget.low, budget.high, budget.unit) == expected


@pytest.mark.parametrize("length", ["", "short", "punchy, one idea", "3"])
def test_a_length_without_a_usable_number_is_no_budget(length):
    assert length_budget({"length": length}) is None
    assert length_budget(None) is None


def test_max_tokens_leave_room_for_the_last_sentence_and_depend_on_the_language():
    budget = LengthBudget(120, 200, "words", "120-200 words")
    english, portuguese = max_tokens_for(budget, "en"), max_tokens_for(budget, "pt-BR")
    assert 200 * 1.4 < english < 200 * 1.4 * 1.3
    assert portuguese > english


def test_a_runaway_answer_is_cut_to_its_first_post_without_labels_or_special_tokens():
    raw = (
        "Post: (key_phrase) We call every new customer in week one.<start_of_image> It keeps them.\n\n"
        "Post:\nWe call every new customer in week one. Post: again"
    )
    cleaned = clean_draft(raw)
    assert cleaned.text == "We call every new customer in week one. It keeps them."
    assert leak_markers(cleaned.text) == []
    assert leak_markers(raw)  # the bench counts these in the raw answer
    assert any("memory labels" in what for what in cleaned.removed)


def test_a_repeated_topic_line_and_a_second_document_section_are_removed():
    raw = "Topic: Why we call customers\n\nWe call them. They stay.\n\n###\n\nTopic: next one"
    assert clean_draft(raw).text == "We call them. They stay."


def test_sentences_that_repeat_the_prompts_instructions_are_dropped():
    instructions = "Write only as Ana would: their vocabulary, their rhythm, their opinions. Match the card."
    raw = "We call every customer. Write only as Ana would: their vocabulary, their rhythm. It works."
    cleaned = clean_draft(raw, instructions=instructions)
    assert cleaned.text == "We call every customer. It works."
    assert leak_markers(raw, instructions=instructions) == ["echoed instructions"]


def test_a_long_draft_is_trimmed_to_whole_sentences_within_the_budget():
    text = " ".join(f"Sentence {n} has exactly six words." for n in range(40)) + " And then it was cut"
    budget = LengthBudget(20, 40, "words", "20-40 words")
    fitted = fit_to_budget(text, budget)
    assert fitted.complete
    assert fitted.trimmed
    assert fitted.text.endswith("words.")
    assert 20 <= len(fitted.text.split()) <= 40


def test_a_draft_cut_mid_sentence_loses_the_unfinished_sentence():
    fitted = fit_to_budget("We call customers. It works. Because when we", None)
    assert (fitted.text, fitted.complete) == ("We call customers. It works.", True)


def test_hashtags_an_emoji_or_a_question_end_a_post_whole():
    for text in ("It works.\n\n#saas #b2b", "Try it 🚀", "Would you call them?"):
        fitted = fit_to_budget(text, None)
        assert (fitted.text, fitted.complete, fitted.trimmed) == (text, True, False)


def test_a_single_sentence_longer_than_the_budget_cannot_be_made_whole():
    fitted = fit_to_budget(" ".join(["word"] * 50) + ".", LengthBudget(0, 20, "words", "under 20 words"))
    assert not fitted.complete
    assert len(fitted.text.split()) == 20


def test_languages_are_told_apart_by_their_function_words():
    assert (
        guess_language("Na semana passada uma cliente me disse que o nosso onboarding parecia lição de casa.")
        == "pt"
    )
    assert (
        guess_language("Last week a customer told me that our onboarding felt like homework to her.") == "en"
    )
    assert guess_language("Ship it.") is None  # too few words to tell


def test_checks_name_what_is_wrong():
    issues = draft_issues(
        "Last week a customer told me our onboarding was a game-changer and that it felt like homework",
        budget=LengthBudget(120, 200, "words", "120-200 words"),
        banned=["game-changer"],
        language="pt-BR",
    )
    assert issues == [
        "17 words, but the style card asks for 120-200 words.",
        "It ends in the middle of a sentence.",
        'It uses the banned phrase "game-changer".',
        "It is written in English, not in Portuguese.",
    ]
    assert draft_issues("", budget=None, banned=[], language="en") == ["The draft is empty."]


def test_a_sentence_said_again_word_for_word_is_dropped():
    looped = "We call every customer. " + "The customers we call stay longer. " * 5 + "That is all."
    assert (
        clean_draft(looped).text == "We call every customer. The customers we call stay longer. That is all."
    )
