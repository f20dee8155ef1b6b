from __future__ import annotations

import pytest

from memories.contradictions import Relation, compare_values, read_statement, relate
from memories.values import extract_values, mask_values


def _canonical(text: str) -> list[str]:
    return [value.canonical for value in extract_values(text)]


@pytest.mark.parametrize(
    ("texts", "canonical"),
    [
        (["two years earlier", "2 years before", "dois anos antes"], ["duration:2y:before"]),
        (["three years ago", "3 years ago", "há três anos", "3 anos atrás"], ["duration:3y:ago"]),
        (["120 employees", "one hundred and twenty employees", "cento e vinte funcionários"], ["number:120"]),
        (["1,200 clients", "1.200 clientes", "mil e duzentos clientes"], ["number:1200"]),
        (["15%", "15 percent", "fifteen per cent", "quinze por cento", "15 por cento"], ["percent:15"]),
        (["99.9%", "99,9 por cento"], ["percent:99.9"]),
        (["$2M", "2 million dollars", "US$ 2 milhões", "2 milhões de dólares", "$2,000,000"],
         ["money:USD:2000000"]),
        (["€1.5 million", "1,5 milhões de euros", "EUR 1,500,000"], ["money:EUR:1500000"]),
        (["R$ 49", "49 reais", "quarenta e nove reais"], ["money:BRL:49"]),
        (["on 15 March 2021", "on March 15, 2021", "a 15 de março de 2021", "em 15/03/2021", "2021-03-15"],
         ["date:2021-03-15"]),
        (["in March 2021", "em março de 2021"], ["date:2021-03"]),
        (["founded in 2014", "fundada em 2014"], ["date:2014"]),
        (["in Q3 2025", "no 3º trimestre de 2025"], ["date:2025-q3"]),
        (["twice a week", "two times per week", "duas vezes por semana", "2 vezes por semana"],
         ["frequency:2/w"]),
        (["on Tuesdays", "on Tuesday", "às terças-feiras", "na terça"], ["weekday:tue"]),
        (["at 5pm", "at 5 p.m.", "at 17:00", "às 17h"], ["time:17:00"]),
    ],
)  # fmt: skip
def test_one_value_written_many_ways_has_one_canonical_form(texts, canonical):
    assert {text: _canonical(text) for text in texts} == dict.fromkeys(texts, canonical)


@pytest.mark.parametrize(
    "text",
    [
        "One of our clients asked for it.",  # an article, not a count
        "Uma empresa de Lisboa pediu isso.",
        "The XR-200 sensor is certified.",  # a product name
        "Posts may mention pricing.",  # "may" the verb
        "A segunda versão saiu.",  # an ordinal, not Monday
    ],
)
def test_words_that_only_look_like_values_are_not_values(text):
    assert _canonical(text) == []


def test_a_price_per_month_is_one_value_not_a_price_and_a_duration():
    assert _canonical("The Pro plan costs $29 a month.") == _canonical("Pro costs 29 dollars per month.")
    assert _canonical("The Pro plan costs $29 a month.") == ["money:USD:29"]


def test_masking_leaves_the_subject_the_values_are_about():
    assert (
        mask_values("The company has 120 employees since 2019.")
        == "The company has #number employees since #date."
    )


def test_the_same_fact_in_other_words_and_figures_is_a_duplicate():
    a = read_statement("The CTO joined two years earlier.")
    b = read_statement("The CTO joined 2 years before.")
    assert a.subject == b.subject
    assert relate(a, b, subject_similarity=1.0) is Relation.DUPLICATE


def test_another_value_for_the_same_subject_is_a_contradiction():
    a = read_statement("The company has 120 employees.")
    b = read_statement("The company has 150 employees.")
    assert relate(a, b, subject_similarity=1.0) is Relation.CONTRADICTION


def test_the_opposite_polarity_is_a_contradiction_in_each_language():
    english = (
        read_statement("Use emojis in posts.", language="en"),
        read_statement("Never use emojis in posts."),
    )
    portuguese = (
        read_statement("Usar emojis nos posts.", language="pt-BR"),
        read_statement("Não usar emojis nos posts.", language="pt-BR"),
    )
    assert compare_values(*english) is Relation.CONTRADICTION
    assert compare_values(*portuguese) is Relation.CONTRADICTION
    # Portuguese "no" is "in the": no negation there.
    assert not read_statement("O produto entrou no ar.", language="pt").negated


def test_figures_for_different_years_are_two_facts_but_a_changed_year_is_a_contradiction():
    growth_2022 = read_statement("Revenue grew 15% in 2022.")
    growth_2023 = read_statement("Revenue grew 35% in 2023.")
    assert compare_values(growth_2022, growth_2023) is Relation.COMPATIBLE
    founded = (
        read_statement("The company was founded in 2014."),
        read_statement("The company was founded in 2015."),
    )
    assert compare_values(*founded) is Relation.CONTRADICTION


def test_different_names_are_different_subjects():
    a = read_statement("Sarah's favourite product is Acme Flow.")
    b = read_statement("Sarah's favourite product is Acme Desk.")
    assert relate(a, b, subject_similarity=0.99) is Relation.COMPATIBLE


def test_a_dissimilar_subject_is_never_a_contradiction():
    a = read_statement("The company has 120 employees.")
    b = read_statement("Keep posts under 200 words.")
    assert relate(a, b, subject_similarity=0.2) is Relation.UNRELATED


@pytest.mark.parametrize(
    ("before", "after", "language"),
    [
        ("Our team ships a release every 2 weeks.", "A new version goes out every 3 weeks.", "en"),
        ("O escritório tem 30 secretárias.", "Temos 45 postos de trabalho no escritório.", "pt"),
    ],
)
def test_a_fact_restated_in_other_words_with_another_value_is_a_contradiction(
    before, after, language, local_embedder
):
    a, b = read_statement(before, language=language), read_statement(after, language=language)
    first, second = local_embedder.embed([a.subject, b.subject])
    similarity = sum(x * y for x, y in zip(first, second, strict=True))
    assert relate(a, b, subject_similarity=similarity) is Relation.CONTRADICTION
