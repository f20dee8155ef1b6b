"""People's names, street addresses, sensitive terms and known names, in English and Portuguese."""

import pytest

from gateway.redaction import RedactionRules, find_names, redact, restore


def _masked(text: str, **rules) -> set[str]:
    return set(redact(text, rules=RedactionRules(**rules)).mapping.values())


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("Write a post congratulating Emily Carter on her promotion.", {"Emily Carter"}),
        ("Quote our customer Daniel Okafor on the rollout.", {"Daniel Okafor"}),
        ("My name is Xavier Quintanilha and I lead procurement.", {"Xavier Quintanilha"}),
        ("Ask Mrs. Thompson before we publish.", {"Thompson"}),
        ("Thank Kevin and Laura for staying late.", {"Kevin", "Laura"}),
        ("A Dra. Beatriz Nogueira vai falar sobre saúde mental.", {"Beatriz Nogueira"}),
        ("O João Pedro da Silva fechou o maior contrato do ano.", {"João Pedro da Silva"}),
        ("Me chamo Ricardo Teixeira e trabalho com vendas.", {"Ricardo Teixeira"}),
        ("O Sr. Almeida pediu um post.", {"Almeida"}),
        ("Parabéns à Juliana e ao Marcos!", {"Juliana", "Marcos"}),
    ],
)
def test_names_are_found_in_english_and_portuguese(text, names):
    assert _masked(text) == names


@pytest.mark.parametrize(
    "text",
    [
        "Crescemos 40% em São Paulo e Belo Horizonte.",  # "Paulo" is a first name, São Paulo a city
        "Will this strategy work? May is our busiest month.",  # names that are ordinary words
        "Wall Street loved the Salesforce and HubSpot news on Monday.",
        "A reunião com a Magazine Luiza foi adiada.",  # a brand ending in a first name
        "O time de vendas da Rosa Tech bateu a meta.",
        "New York and London remain our biggest markets.",
    ],
)
def test_places_brands_and_ordinary_words_are_left_alone(text):
    assert redact(text).text == text


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Maria Silva, Rua das Flores 123", "Rua das Flores 123"),
        ("Na Av. Faria Lima, 3477, apto 12 - 04538-133.", "Av. Faria Lima, 3477, apto 12 - 04538-133"),
        ("Ship to 1200 Industrial Parkway, Dayton, OH 45402.", "1200 Industrial Parkway, Dayton, OH 45402"),
        ("We moved to 221B Baker Street last spring.", "221B Baker Street"),
        ("Moro na Rua dos Pinheiros e vou de bicicleta.", "Rua dos Pinheiros"),  # no number, but "moro na"
        ("Mande para o CEP 20040-003.", "CEP 20040-003"),
    ],
)  # fmt: skip
def test_street_addresses_are_found(text, address):
    assert address in _masked(text)


def test_a_street_named_without_a_number_or_a_resident_is_not_an_address():
    text = "Fotos da Avenida Paulista no domingo."
    assert redact(text, rules=RedactionRules(detect_names=False)).text == text


def test_the_issue_example_is_fully_masked_and_restored():
    text = "Maria Silva, Rua das Flores 123"
    result = redact(text)
    assert result.text == "[NAME_1], [ADDRESS_1]"
    assert restore(result.text, result.mapping) == text


def test_sensitive_terms_are_masked_as_whole_words_in_any_case():
    rules = RedactionRules(sensitive_terms=("Projeto Atlas", "acme"))
    result = redact("O projeto atlas da ACME sai em maio; acmeville não.", rules=rules)
    assert result.text == "O [TERM_1] da [TERM_2] sai em maio; acmeville não."
    assert restore(result.text, result.mapping) == "O projeto atlas da ACME sai em maio; acmeville não."


def test_known_names_are_masked_whole_and_by_their_parts():
    # "Zed Quorrin" is in no name list: only the tenant's knowledge of its author finds it.
    rules = RedactionRules(known_names=("Zed Quorrin",), detect_names=False)
    result = redact("Zed Quorrin wrote this; Quorrin thanks the team.", rules=rules)
    assert "Quorrin" not in result.text
    assert restore(result.text, result.mapping) == "Zed Quorrin wrote this; Quorrin thanks the team."


def test_switching_name_detection_off_keeps_the_patterns():
    rules = RedactionRules(detect_names=False, detect_addresses=False)
    result = redact("Maria Silva, ana@x.com, Rua das Flores 123", rules=rules)
    assert result.text == "Maria Silva, [EMAIL_1], Rua das Flores 123"


def test_placeholders_of_other_detectors_are_never_taken_for_names():
    assert find_names("Write to [EMAIL_1] and [NAME_1] today") == []


def test_one_name_keeps_one_placeholder_across_messages():
    first = redact("Thank Fernanda Ribeiro for the talk.")
    second = redact("Fernanda Ribeiro and Rodrigo Nascimento met.", mapping=first.mapping)
    assert second.text == "[NAME_1] and [NAME_2] met."
