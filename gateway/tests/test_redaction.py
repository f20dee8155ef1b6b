import pytest

from gateway.redaction import redact, restore


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("write to ana.souza+news@empresa.com.br today", "EMAIL"),
        ("call +55 11 91234-5678", "PHONE"),
        ("call (415) 555-0100", "PHONE"),
        ("card 4111 1111 1111 1111", "CARD"),
        ("CPF 529.982.247-25", "CPF"),
        ("cpf 52998224725", "CPF"),
        ("CNPJ 11.222.333/0001-81", "CNPJ"),
    ],
)
def test_pii_is_masked(text, label):
    result = redact(text)
    assert f"[{label}_1]" in result.text
    assert restore(result.text, result.mapping) == text


@pytest.mark.parametrize(
    "text",
    [
        "We grew 35% in 2024 to 1200000 users across 3 regions.",
        "CPF 111.111.111-11 is not valid",  # check digits fail
        "card 4111111111111112",  # Luhn fails
        "Order 1234567890123 shipped",  # a bare 13-digit number is not a phone
        "Q3 2025: revenue up 12.5%",
    ],
)
def test_ordinary_numbers_are_left_alone(text):
    assert redact(text).text == text


def test_one_value_keeps_one_placeholder_across_messages():
    first = redact("email ana@x.com")
    second = redact("again ana@x.com and bob@y.com", mapping=first.mapping)
    assert second.text == "again [EMAIL_1] and [EMAIL_2]"


def test_a_first_text_redacted_again_gives_the_same_result_and_a_mapping_of_its_own():
    text = "Call Maria Silva on +44 20 7946 0958 or write to maria@example.com."
    first = redact(text)
    first.mapping["[EMAIL_1]"] = "changed by the caller"

    again = redact(text)

    assert again.text == first.text
    assert again.mapping != first.mapping  # the caller's change did not reach the next call
    assert restore(again.text, again.mapping) == text
    # With an earlier message's mapping the placeholders continue from it, as without memory.
    follow = redact(text, mapping={"[EMAIL_1]": "other@example.com"})
    assert "[EMAIL_2]" in follow.text
