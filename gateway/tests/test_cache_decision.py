"""The cache decision on pairs of each failure pattern of issue 13 (pure: no database).

Similarities are the real all-MiniLM-L6-v2 ones: the decision is asked as the lookup asks it."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.cache import decision, guards, training
from gateway.cache.structure import align, is_typo, minimal_edit, parse, strip_courtesy

THRESHOLD = 0.78

MUST_NOT_SERVE = [
    # direction and role swaps
    ("Find me a flight from Lisbon to Porto on Friday", "Find me a flight from Porto to Lisbon on Friday"),
    ("Convert 100 USD to EUR", "Convert 100 EUR to USD"),
    ("Should we migrate from Slack to Teams?", "Should we migrate from Teams to Slack?"),
    ("Traduza o texto de inglês para português", "Traduza o texto de português para inglês"),
    # negation by prefix and by verbs of opposite sense
    ("Is the hotel booking refundable?", "Is the hotel booking non-refundable?"),
    ("Can members bring a guest to the gym?", "Can non-members bring a guest to the gym?"),
    ("Does the travel insurance cover lost luggage?", "Does the travel insurance exclude lost luggage?"),
    ("Does the building allow pets on weekends?", "Does the building ban pets on weekends?"),
    ("O seguro cobre bagagem extraviada?", "O seguro exclui bagagem extraviada?"),
    # comparison words
    ("Is delivery free for orders over $40?", "Is delivery free for orders under $40?"),
    ("Can I cancel within 24 hours of booking?", "Can I cancel after 24 hours of booking?"),
    # groups and roles
    ("What is the vacation policy for full-time staff?", "What is the vacation policy for part-time staff?"),
    ("How much is a museum ticket for adults?", "How much is a museum ticket for children?"),
    ("Do you sell men's rain jackets?", "Do you sell women's rain jackets?"),
    ("Can I buy a gift for my sister online?", "Can I buy a gift card for my sister online?"),
    # entities and numbers stay refused
    ("Reset my Notion password", "Reset my Trello password"),
    ("Give me 5 tips for hooks", "Give me 7 tips for hooks"),
    # one word changed with a single word left to anchor it: the rest of the request is the same
    ("Is there free parking for visitors?", "Is there free parking for employees?"),
    ("Há estacionamento para visitantes?", "Há estacionamento para funcionários?"),
    ("Write an intro for Ana, our new COO", "Write an intro for Ana, our new CMO"),
    # the modifier of an aligned word replaced, the rest reworded
    ("Does the family plan include vision care?", "Does my student insurance plan include vision care?"),
    # a quantifier of what both requests ask about still narrows it
    ("Can interns get a parking spot?", "Can all interns get a parking spot?"),
    # a letter changed at the end of a short word makes another word
    ("Where do I pick up my car?", "Where do I pick up my card?"),
]

MUST_SERVE = [
    # greetings and thanks are courtesy, not scope or time
    ("How do I reset my password?", "Hi team, how do I reset my password?"),
    ("Can I change my flight date?", "Morning! Can I change my flight date?"),
    ("Where can I download my invoices?", "Where can I download my invoices? Thanks!"),
    # "I'm", "OK" and "ATM" are ordinary words
    ("Is there a fee to use an ATM abroad?", "OK, is there a fee to use an ATM abroad?"),
    ("I'm trying to update my billing address", "I'm trying to update my billing address please"),
    # plural weekdays
    ("Is the store open on Sunday?", "Is the store open on Sundays?"),
    # typos, short words included
    ("How do I cancel my subscription?", "how do i cancle my subscripton"),
    ("Deste post eu gosto", "Deste pots eu gosto"),
    # the same arguments in the same roles, reordered or with a symmetric word
    ("Compare HubSpot and Salesforce", "Compare Salesforce and HubSpot"),
    ("Book a flight from Lisbon to Porto on Friday", "On Friday, book a flight from Lisbon to Porto"),
    # paraphrases that embed below the threshold: the verifier is asked from threshold - gate
    ("Give me feedback on this post", "What do you think of this post? Any feedback?"),
    ("Rewrite this post so it is easier to read", "Make this post easier to read"),
    ("Deixe este post mais curto", "Encurte este post"),
    # a sentence rebuilt around the same words: not one word said instead of another
    ("What are the library's hours on Sundays?", "Are you open on Sundays at the library?"),
    # a closing question that quantifies nothing the request talks about
    ("Do interns get a parking spot?", "Do interns get a parking spot? Any idea?"),
    # a letter dropped inside a short word, even when that makes another word, and in a month
    ("Can I print my boarding pass at home?", "Can I pint my boarding pass at home?"),
    ("Send me the invoices from April", "Send me the invoices from Aprl"),
]


@pytest.fixture(scope="module")
def similarity(local_embedder):
    def cosine(a: str, b: str) -> float:
        va, vb = local_embedder.embed([a, b])
        return float(np.dot(va, vb))

    return cosine


@pytest.mark.parametrize(("cached", "new"), MUST_NOT_SERVE)
def test_a_request_that_asks_for_something_else_is_not_served(cached, new, similarity):
    verdict = decision.decide(cached, new, similarity=similarity(cached, new), threshold=THRESHOLD)
    assert not verdict.ok, verdict.reason
    assert verdict.reason


@pytest.mark.parametrize(("cached", "new"), MUST_SERVE)
def test_the_same_request_typed_differently_is_served(cached, new, similarity):
    verdict = decision.decide(cached, new, similarity=similarity(cached, new), threshold=THRESHOLD)
    assert verdict.ok, verdict.reason


def test_a_swap_is_refused_even_at_the_highest_similarity():
    verdict = decision.decide(
        "Transfer 50 EUR from savings to checking",
        "Transfer 50 EUR from checking to savings",
        similarity=1.0,
        threshold=1.0,
    )
    assert (verdict.ok, verdict.guard) == (False, "order")


def test_a_refusal_says_what_differs():
    verdict = decision.decide(
        "Does the plan cover dental care?",
        "Does the plan exclude dental care?",
        similarity=0.95,
        threshold=0.78,
    )
    assert verdict.guard in ("swap", "antonym")
    assert "cover" in verdict.reason
    assert "exclude" in verdict.reason


def test_a_higher_threshold_never_serves_more():
    pairs = [(c, n, s) for (c, n) in MUST_SERVE for s in (0.6, 0.8, 0.9)]
    for cached, new, sim in pairs:
        served = [
            decision.decide(cached, new, similarity=sim, threshold=t).ok for t in (0.5, 0.7, 0.8, 0.9, 1.0)
        ]
        assert served == sorted(served, reverse=True), (cached, new, sim)


def test_greetings_and_sign_offs_are_set_aside_but_a_bare_greeting_is_kept():
    assert strip_courtesy("Hi team, can I get a refund?") == "can I get a refund?"
    assert strip_courtesy("Olá pessoal, posso cancelar?") == "posso cancelar?"
    assert strip_courtesy("Can I get a refund? Thanks in advance") == "Can I get a refund?"
    assert strip_courtesy("Hello") == "Hello"


def test_the_alignment_sees_negation_through_a_prefix_and_a_negator():
    prefixed = align(parse("Discounts for members"), parse("Discounts for non-members"))
    assert prefixed.negated == ("members",)
    glued = align(parse("How do I subscribe?"), parse("How do I unsubscribe?"))
    assert glued.negated == ("subscribe",)
    worded = align(parse("Use emojis in the post"), parse("Do not use emojis in the post"))
    assert "use" in worded.negated
    same = align(parse("Write a post without emojis"), parse("Draft a post with no emojis"))
    assert same.negated == ()


def test_a_phrase_moved_elsewhere_is_not_an_argument_swap():
    moved = align(
        parse("Find a flight from Lisbon to Porto on Monday"),
        parse("On Monday find a flight from Lisbon to Porto"),
    )
    assert moved.swapped == ()
    swapped = align(parse("Convert 10 GBP into BRL"), parse("Convert 10 BRL into GBP"))
    assert swapped.swapped


def test_the_verifier_weights_match_the_features_and_serve_an_aligned_paraphrase():
    verifier = decision.verifier()
    assert len(verifier.weights) == len(decision.FEATURES)
    assert 0.0 < verifier.cutoff < 1.0
    assert verifier.weights[decision.FEATURES.index("similarity_margin")] >= 0


def test_the_verifier_is_asked_below_the_threshold_down_to_its_gate_only():
    cached, new = "Give me feedback on this post", "What do you think of this post? Any feedback?"
    gate = decision.verifier().gate
    assert 0.0 < gate < 0.5
    assert decision.decide(cached, new, similarity=THRESHOLD - gate + 0.01, threshold=THRESHOLD).ok
    below = decision.decide(cached, new, similarity=THRESHOLD - gate - 0.01, threshold=THRESHOLD)
    assert (below.ok, below.guard) == (False, "similarity")


def test_a_single_word_changed_is_found_whatever_anchors_it_but_a_slip_is_not_a_change():
    edit = minimal_edit_of("Are there discounts for nurses?", "Are there discounts for pilots?")
    assert edit == ("nurses", "pilots")
    assert minimal_edit_of("How much is 50 CAD in EUR?", "How mcuh is 50 CAD in EUR?") is None
    assert minimal_edit_of("Convert 50 CAD to EUR", "Change 50 CAD to EUR") is None  # the opening


def test_rare_words_weigh_more_than_the_words_requests_are_made_of():
    weights, unseen = decision.idf()
    assert weights["post"] < weights.get("dashboard", unseen) <= unseen
    common = decision.pair_features(
        "Tell me about the post",
        "Show me the post",
        align(parse("Tell me about the post"), parse("Show me the post")),
        0.0,
    )
    rare = decision.pair_features(
        "Tell me about the zeppelin",
        "Show me the submarine",
        align(parse("Tell me about the zeppelin"), parse("Show me the submarine")),
        0.0,
    )
    index = decision.FEATURES.index("idf_coverage")
    assert common[index] > rare[index]


def minimal_edit_of(a: str, b: str):
    return minimal_edit(parse(a), parse(b), align(parse(a), parse(b)))


def test_a_quantifier_counts_as_scope_only_over_what_the_other_request_mentions():
    assert guards.compare("Can my team see the reports?", "Can my team see the reports? Any idea?")
    narrowed = guards.compare("Can my team see the reports?", "Can my team see any reports?")
    assert (narrowed.ok, narrowed.guard) == (False, "scope")


def test_a_letter_dropped_inside_a_known_word_is_a_slip_but_not_at_its_ends():
    assert is_typo("print", "pint")
    assert is_typo("post", "pot")
    assert not is_typo("card", "car")  # the last letter
    assert not is_typo("plane", "plan")
    assert not is_typo("hour", "our")  # the first letter
    assert not is_typo("post", "most")  # a letter replaced


def test_a_question_frame_is_told_from_a_word_inside_the_request():
    def frame(a: str, b: str) -> tuple[float, float]:
        features = decision.pair_features(a, b, align(parse(a), parse(b)), 0.0)
        return (
            features[decision.FEATURES.index("opening_frame")],
            features[decision.FEATURES.index("closing_frame")],
        )

    assert frame("Quick question: can I pay by card?", "Can I pay by card? Any idea?") == (2.0, 1.0)
    assert frame("Can seniors pay by card?", "Can students pay by card?") == (0.0, 0.0)


def test_words_spelt_alike_count_towards_coverage():
    a, b = "Write a short summary of the report", "Summarize the report in short"
    features = decision.pair_features(a, b, align(parse(a), parse(b)), 0.0)
    soft = features[decision.FEATURES.index("soft_coverage")]
    assert soft > features[decision.FEATURES.index("coverage")]


def test_the_cutoff_keeps_out_of_fold_false_hits_within_the_budget():
    traps = 1000
    allowed = int(training.MAX_FALSE_HITS * traps)
    scores = np.linspace(0.99, 0.0, traps)  # one trap per score, the first `allowed` above all others
    outcomes = np.r_[scores, [0.97, training.SERVED, training.REFUSED]]
    labels = np.r_[np.zeros(traps), [1.0, 1.0, 1.0]]
    cutoff = training.choose_cutoff(outcomes, labels)
    assert int(np.sum((outcomes >= cutoff) & (labels == 0))) == allowed
    served_trap = np.r_[outcomes, [training.SERVED] * (allowed + 1)]
    assert training.choose_cutoff(served_trap, np.r_[labels, np.zeros(allowed + 1)]) == 1.0
