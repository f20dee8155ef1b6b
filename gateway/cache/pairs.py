"""Labelled request pairs generated from templates, to fit and check the cache's verifier.

Each family is one intent with several phrasings (English or Portuguese) and typed slots. From a
filled request it derives pairs that should share an answer (a near repeat: typos, case, punctuation,
greetings, thanks; a paraphrase: another phrasing with the same slot values) and traps that must not
(negation, entity swap, number/date, scope), each by changing one slot the way real traps do.

The split is by family: a family is wholly in `train` or wholly in `heldout`, so the held-out figures
say how the decision does on phrasings and words it was never fitted on. Deterministic for a seed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

SHOULD_HIT = ("near_repeat", "paraphrase")
TRAPS = ("negation", "entity_swap", "number_date", "scope")


@dataclass(frozen=True)
class Family:
    name: str
    lang: str
    phrasings: tuple[str, ...]
    # slot -> (kind, values); kinds: ent (a name: swapped for another), num (number or date: changed),
    # grp (a group or role: swapped within its pairs), pol (a polarity: the first value against the rest)
    slots: dict[str, tuple[str, tuple[str, ...]]] = field(default_factory=dict)
    directed: tuple[str, str] | None = None  # two ent slots whose order matters ("from {x} to {y}")


def _f(name, lang, phrasings, directed=None, **slots) -> Family:
    return Family(name, lang, tuple(phrasings), dict(slots), directed)


CITIES = ("Lisbon", "Porto", "Madrid", "Paris", "Berlin", "Boston", "Chicago", "Denver", "Toronto", "Rome")
BRANDS = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Vandelay", "Pied Piper")
PEOPLE = ("Maria", "John", "Priya", "Carlos", "Aisha", "Tom", "Lucia", "Kenji", "Fatima", "Pedro")
TOOLS = ("Slack", "Zoom", "Notion", "HubSpot", "Salesforce", "Shopify", "Stripe", "Trello", "Figma")
CURRENCIES = ("USD", "EUR", "GBP", "BRL", "JPY", "CAD")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "March", "April", "June", "July", "September", "October", "December")
DIAS = ("segunda-feira", "terça-feira", "quarta-feira", "quinta-feira", "sexta-feira", "sábado")
MESES = ("janeiro", "março", "abril", "junho", "julho", "setembro", "outubro", "dezembro")
CIDADES = ("Lisboa", "Porto", "São Paulo", "Recife", "Curitiba", "Salvador", "Braga", "Coimbra")

FAMILIES: tuple[Family, ...] = (
    _f(
        "flight",
        "en",
        (
            "Find me a flight from {x} to {y} on {d}",
            "I need a flight from {x} to {y} on {d}",
            "Are there flights from {x} to {y} on {d}?",
            "Book a flight on {d} from {x} to {y}",
        ),
        directed=("x", "y"),
        x=("ent", CITIES),
        y=("ent", CITIES),
        d=("num", DAYS),
    ),
    _f(
        "convert",
        "en",
        (
            "Convert {n} {x} to {y}",
            "How much is {n} {x} in {y}?",
            "What is {n} {x} in {y}?",
            "Change {n} {x} into {y}",
        ),
        directed=("x", "y"),
        n=("num", ("100", "250", "40", "1,000", "75", "12")),
        x=("ent", CURRENCIES),
        y=("ent", CURRENCIES),
    ),
    _f(
        "refund",
        "en",
        (
            "Is the {t} ticket {p}?",
            "Can you tell me if the {t} ticket is {p}?",
            "I want to know whether the {t} ticket is {p}",
            "Is a {t} ticket {p}?",
        ),
        t=("grp", ("economy", "business", "first-class", "premium")),
        p=("pol", ("refundable", "non-refundable")),
    ),
    _f(
        "discount",
        "en",
        (
            "Do you offer discounts for {g}?",
            "Are there any discounts for {g}?",
            "Is there a discount available to {g}?",
            "Can {g} get a discount?",
        ),
        g=("grp", ("members", "non-members", "students", "seniors", "teachers", "veterans")),
    ),
    _f(
        "coverage",
        "en",
        (
            "Does the {b} plan {p} {c}?",
            "Will my {b} plan {p} {c}?",
            "Does my {b} insurance plan {p} {c}?",
            "I'd like to know if the {b} plan does {p} {c}",
        ),
        b=("grp", ("basic", "premium", "family", "gold", "silver")),
        p=("pol", ("cover", "exclude")),
        c=("grp", ("dental care", "eye exams", "physical therapy", "prescriptions", "emergency visits")),
    ),
    _f(
        "policy_allow",
        "en",
        (
            "Does the office {p} dogs on {d}?",
            "Is it true the office will {p} dogs on {d}?",
            "Will the office {p} dogs on {d}?",
        ),
        p=("pol", ("allow", "ban")),
        d=("num", DAYS),
    ),
    _f(
        "shipping",
        "en",
        (
            "Is shipping free for orders {p} ${n}?",
            "Do orders {p} ${n} get free shipping?",
            "Free delivery on orders {p} ${n}, right?",
            "Do you ship for free when an order is {p} ${n}?",
        ),
        p=("pol", ("over", "under")),
        n=("num", ("50", "35", "100", "25", "75", "200")),
    ),
    _f(
        "returns",
        "en",
        (
            "Can I return an item {p} {n} days?",
            "Are returns accepted {p} {n} days?",
            "Is it possible to send something back {p} {n} days?",
        ),
        p=("pol", ("within", "after")),
        n=("num", ("14", "30", "7", "60", "90")),
    ),
    _f(
        "jobs",
        "en",
        (
            "What benefits do {g} employees get?",
            "Which benefits are offered to {g} employees?",
            "List the benefits for {g} employees",
            "Tell me about the benefits {g} employees receive",
        ),
        g=("grp", ("full-time", "part-time", "contract", "remote", "senior")),
    ),
    _f(
        "tickets_age",
        "en",
        (
            "How much are tickets for {g} at the {x} museum?",
            "What do {g} pay for tickets at the {x} museum?",
            "Ticket prices for {g} at the {x} museum?",
            "What's the ticket price for {g} at the {x} museum?",
        ),
        g=("grp", ("adults", "children", "students", "seniors", "families")),
        x=("ent", CITIES),
    ),
    _f(
        "clothing",
        "en",
        (
            "Do you have {g} running shoes in size {n}?",
            "Are {g} running shoes available in size {n}?",
            "I'm looking for {g} running shoes, size {n}",
            "Any {g} running shoes in a size {n}?",
        ),
        g=("grp", ("men's", "women's", "kids'", "unisex")),
        n=("num", ("8", "9", "10", "7", "11", "42")),
    ),
    _f(
        "gift",
        "en",
        (
            "Can I buy a {g} for my {r}?",
            "I want to get a {g} for my {r}",
            "How do I purchase a {g} for my {r}?",
            "Is it possible to buy a {g} for my {r}?",
        ),
        g=("grp", ("gift", "gift card", "subscription", "membership", "voucher")),
        r=("grp", ("mom", "dad", "sister", "brother", "boss", "friend")),
    ),
    _f(
        "password",
        "en",
        (
            "How do I reset my {x} password?",
            "What's the way to reset my {x} password?",
            "I forgot my {x} password, how do I reset it?",
            "Help me reset the password of my {x} account",
        ),
        x=("ent", TOOLS),
    ),
    _f(
        "meeting",
        "en",
        (
            "Schedule a meeting with {x} on {d} at {n}",
            "Set up a meeting with {x} for {d} at {n}",
            "Book time with {x} on {d} at {n}",
            "Can you put a meeting with {x} on {d} at {n}?",
        ),
        x=("ent", PEOPLE),
        d=("num", DAYS),
        n=("num", ("9am", "10am", "2pm", "3pm", "4pm", "11am")),
    ),
    _f(
        "report",
        "en",
        (
            "Summarize {o} sales for {m}",
            "Give me a summary of {o} sales in {m}",
            "What were {o} sales in {m}?",
            "Write a short summary of {o} sales for {m}",
        ),
        o=("grp", ("our", "my", "the team's", "all regions'", "Europe's")),
        m=("num", MONTHS),
    ),
    _f(
        "post_topic",
        "en",
        (
            "Write a LinkedIn post about {x}'s {t} for {g}",
            "Draft a LinkedIn post on {x}'s {t}, aimed at {g}",
            "Create a post for {g} about {x}'s {t}",
            "Compose a LinkedIn update about {x}'s {t} for {g}",
        ),
        x=("ent", BRANDS),
        t=("grp", ("quarterly results", "new office", "hiring plans", "product launch")),
        g=("grp", ("investors", "customers", "employees", "partners")),
    ),
    _f(
        "post_rules",
        "en",
        (
            "Write a post about {t} {p} emojis",
            "Draft a post on {t} {p} any emojis",
            "Create a LinkedIn post about {t}, {p} emojis",
        ),
        t=("grp", ("remote work", "mentorship", "leadership", "onboarding", "burnout")),
        p=("pol", ("with", "without")),
    ),
    _f(
        "compare_tools",
        "en",
        (
            "Should we move from {x} to {y}?",
            "Is it worth switching from {x} to {y}?",
            "Would migrating from {x} to {y} make sense for us?",
            "Tell me if we should switch from {x} to {y}",
        ),
        directed=("x", "y"),
        x=("ent", TOOLS),
        y=("ent", TOOLS),
    ),
    _f(
        "deadline",
        "en",
        (
            "Remind me to send the invoice {p} the {e}",
            "Set a reminder to send the invoice {p} the {e}",
            "I need a reminder to send the invoice {p} the {e}",
        ),
        p=("pol", ("before", "after")),
        e=("grp", ("meeting", "call", "review", "launch")),
    ),
    _f(
        "store_hours",
        "en",
        (
            "Is the {x} store open on {d}s?",
            "Are you open on {d}s at the {x} store?",
            "What are the {x} store's hours on {d}s?",
            "Does the {x} store open on {d}s?",
        ),
        x=("ent", CITIES),
        d=("num", DAYS),
    ),
    _f(
        "atm_fee",
        "en",
        (
            "Is there a fee for using an ATM {p} the network?",
            "Do I pay a fee at ATMs {p} the network?",
            "Are ATM withdrawals {p} the network charged?",
            "What does it cost to use an ATM {p} the network?",
        ),
        p=("pol", ("inside", "outside")),
    ),
    _f(
        "account_access",
        "en",
        (
            "Can {g} see the {x} dashboard?",
            "Do {g} have access to the {x} dashboard?",
            "Is the {x} dashboard visible to {g}?",
            "Are {g} able to open the {x} dashboard?",
        ),
        g=("grp", ("admins", "guests", "editors", "viewers", "managers")),
        x=("ent", TOOLS),
    ),
    _f(
        "pricing",
        "en",
        (
            "How much does the {b} plan cost per {m}?",
            "What's the price of the {b} plan per {m}?",
            "What does the {b} plan cost each {m}?",
            "Price of the {b} plan, per {m}?",
        ),
        b=("grp", ("starter", "pro", "business", "enterprise")),
        m=("num", ("month", "year", "week")),
    ),
    _f(
        "translate",
        "en",
        (
            "Translate this paragraph from {x} into {y}",
            "Please translate the paragraph from {x} to {y}",
            "Can you put this paragraph from {x} into {y}?",
        ),
        directed=("x", "y"),
        x=("ent", ("English", "Portuguese", "Spanish", "French", "German", "Italian")),
        y=("ent", ("English", "Portuguese", "Spanish", "French", "German", "Italian")),
    ),
    # ---- Portuguese ----
    _f(
        "voo",
        "pt",
        (
            "Quero um voo de {x} para {y} na {d}",
            "Tem voo de {x} para {y} na {d}?",
            "Procure um voo na {d} de {x} para {y}",
            "Preciso de uma passagem de {x} para {y} na {d}",
        ),
        directed=("x", "y"),
        x=("ent", CIDADES),
        y=("ent", CIDADES),
        d=("num", DIAS),
    ),
    _f(
        "reembolso",
        "pt",
        (
            "A passagem {t} é {p}?",
            "Queria saber se a passagem {t} é {p}",
            "Me diga se a passagem {t} é {p}",
        ),
        t=("grp", ("econômica", "executiva", "promocional")),
        p=("pol", ("reembolsável", "não reembolsável")),
    ),
    _f(
        "desconto",
        "pt",
        (
            "Vocês dão desconto para {g}?",
            "Existe desconto para {g}?",
            "Tem algum desconto para {g}?",
            "{g} têm direito a desconto?",
        ),
        g=("grp", ("sócios", "não sócios", "estudantes", "idosos", "professores")),
    ),
    _f(
        "frete",
        "pt",
        (
            "O frete é grátis para pedidos {p} R${n}?",
            "Pedidos {p} R${n} têm frete grátis?",
            "Vocês dão frete grátis em compras {p} R${n}?",
        ),
        p=("pol", ("acima de", "abaixo de")),
        n=("num", ("100", "150", "200", "50", "300")),
    ),
    _f(
        "plano",
        "pt",
        (
            "O plano {b} {p} consultas de {c}?",
            "Meu plano {b} {p} {c}?",
            "Queria saber se o plano {b} {p} {c}",
        ),
        b=("grp", ("básico", "premium", "familiar", "ouro")),
        p=("pol", ("cobre", "exclui")),
        c=("grp", ("odontologia", "fisioterapia", "oftalmologia", "psicologia")),
    ),
    _f(
        "beneficios",
        "pt",
        (
            "Quais benefícios têm os funcionários {g}?",
            "Que benefícios recebem os funcionários {g}?",
            "Liste os benefícios dos funcionários {g}",
        ),
        g=("grp", ("em tempo integral", "de meio período", "temporários", "remotos")),
    ),
    _f(
        "ingresso",
        "pt",
        (
            "Quanto custa o ingresso para {g} no museu de {x}?",
            "Qual o preço do ingresso de {g} no museu de {x}?",
            "Ingresso para {g} no museu de {x} custa quanto?",
        ),
        g=("grp", ("adultos", "crianças", "estudantes", "idosos")),
        x=("ent", CIDADES),
    ),
    _f(
        "post_pt",
        "pt",
        (
            "Escreva um post sobre {t} da {x} para {g}",
            "Crie um post para {g} sobre {t} da {x}",
            "Redija um post no LinkedIn sobre {t} da {x}, para {g}",
        ),
        t=("grp", ("os resultados", "o novo escritório", "as contratações", "o lançamento")),
        x=("ent", BRANDS),
        g=("grp", ("investidores", "clientes", "funcionários", "parceiros")),
    ),
    _f(
        "senha",
        "pt",
        (
            "Como eu redefino minha senha do {x}?",
            "Esqueci minha senha do {x}, como redefinir?",
            "Qual o jeito de trocar a senha do {x}?",
        ),
        x=("ent", TOOLS),
    ),
    _f(
        "converter_pt",
        "pt",
        (
            "Converta {n} {x} para {y}",
            "Quanto é {n} {x} em {y}?",
            "Quanto valem {n} {x} em {y}?",
        ),
        directed=("x", "y"),
        n=("num", ("100", "250", "40", "1.000", "75")),
        x=("ent", CURRENCIES),
        y=("ent", CURRENCIES),
    ),
    _f(
        "reuniao",
        "pt",
        (
            "Marque uma reunião com {x} na {d} às {n}",
            "Agende uma reunião com {x} para {d} às {n}",
            "Pode marcar reunião com {x} na {d} às {n}?",
        ),
        x=("ent", PEOPLE),
        d=("num", DIAS),
        n=("num", ("9h", "10h", "14h", "15h", "16h")),
    ),
    _f(
        "relatorio",
        "pt",
        (
            "Resuma as vendas {o} de {m}",
            "Faça um resumo das vendas {o} em {m}",
            "Como foram as vendas {o} em {m}?",
        ),
        o=("grp", ("da equipe", "da empresa", "da região sul", "do time de Lisboa")),
        m=("num", MESES),
    ),
)

GREETINGS = {
    "en": (
        "Hi team, ",
        "Hi, ",
        "Hello! ",
        "Morning! ",
        "Hey there, ",
        "Good afternoon, ",
        "OK, ",
        "Hi all, ",
    ),
    "pt": ("Olá, ", "Oi pessoal, ", "Bom dia! ", "Boa tarde, ", "Oi, "),
}
THANKS = {
    "en": (" Thanks!", " Thank you.", " Thanks in advance"),
    "pt": (" Obrigado!", " Valeu.", " Obrigada"),
}
# Ways of asking the same thing around a request: a question framed, a request softened.
WRAPPERS = {
    "en": ("Quick question: {t}", "Could you tell me: {t}", "I was wondering, {t}", "{t} Any idea?"),
    "pt": ("Uma dúvida: {t}", "Pode me dizer: {t}", "Queria saber, {t}", "{t} Sabe me dizer?"),
}
# English contractions, both ways: "do not" / "don't", "what is" / "what's".
CONTRACTED = (
    ("do not", "don't"),
    ("does not", "doesn't"),
    ("is not", "isn't"),
    ("can not", "can't"),
    ("what is", "what's"),
    ("I am", "I'm"),
    ("I would", "I'd"),
    ("it is", "it's"),
)
NEGATIONS = {"en": ("I don't want to know: ", "not "), "pt": ("não ",)}
QUANTIFIERS = {"en": ("all", "only", "every"), "pt": ("todos os", "apenas", "somente")}
_KEYS = "qwertyuiopasdfghjklzxcvbnm"


def _fill(phrasing: str, values: dict[str, str]) -> str:
    text = phrasing
    for slot, value in values.items():
        text = text.replace("{" + slot + "}", value)
    return text[0].upper() + text[1:]


def _typo(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if len(w) >= 4 and w.isalpha()]
    if not candidates:
        return text.lower()
    i = rng.choice(candidates)
    w = words[i]
    k = rng.randrange(1, len(w) - 1)
    edit = rng.choice(("swap", "drop", "double", "replace"))
    if edit == "swap":
        w = w[: k - 1] + w[k] + w[k - 1] + w[k + 1 :]
    elif edit == "drop":
        w = w[:k] + w[k + 1 :]
    elif edit == "double":
        w = w[:k] + w[k] + w[k:]
    else:
        w = w[:k] + rng.choice(_KEYS) + w[k + 1 :]
    words[i] = w
    return " ".join(words)


def wrapped(text: str, lang: str, rng: random.Random) -> str:
    """The request inside a question frame or a softener ("Quick question: ...")."""
    wrapper = rng.choice(WRAPPERS[lang])
    inner = text if wrapper.startswith("{t}") else text[0].lower() + text[1:]
    return wrapper.replace("{t}", inner)


def contracted(text: str) -> str:
    """Contractions made or undone, whichever the text allows ("What is" -> "What's", "I'm" -> "I am")."""
    for long, short in CONTRACTED:
        for a, b in ((long, short), (short, long)):
            pattern = re.compile(rf"\b{re.escape(a)}\b", re.IGNORECASE)
            found = pattern.search(text)
            if found:
                said = b if found[0][0].islower() else b[0].upper() + b[1:]
                return text[: found.start()] + said + text[found.end() :]
    return text


def near_repeat(text: str, lang: str, rng: random.Random) -> str:
    """The same request as typed again: a greeting, thanks, lower case, lost punctuation, a typo."""
    variants = [
        lambda t: rng.choice(GREETINGS[lang]) + t[0].lower() + t[1:],
        lambda t: t.rstrip("?.!") + rng.choice(THANKS[lang]),
        lambda t: t.lower().rstrip("?.!"),
        lambda t: _typo(t, rng),
        lambda t: _typo(_typo(t, rng), rng).lower(),
        lambda t: rng.choice(GREETINGS[lang]) + _typo(t, rng),
    ]
    return rng.choice(variants)(text)


def _other(values: tuple[str, ...], current: str, rng: random.Random) -> str:
    return rng.choice([v for v in values if v != current])


def traps(family: Family, phrasing: str, values: dict[str, str], rng: random.Random) -> list[tuple[str, str]]:
    """(category, trap text) pairs for one filled request: each changes exactly one thing."""
    found: list[tuple[str, str]] = []
    for slot, (kind, options) in family.slots.items():
        changed = {**values, slot: _other(options, values[slot], rng)}
        if kind == "pol":
            found.append(("negation", _fill(phrasing, changed)))
        elif kind == "ent":
            found.append(("entity_swap", _fill(phrasing, changed)))
        elif kind == "num":
            found.append(("number_date", _fill(phrasing, changed)))
        elif kind == "grp":
            found.append(("scope", _fill(phrasing, changed)))
    if family.directed:
        x, y = family.directed
        swapped = {**values, x: values[y], y: values[x]}
        found.append(("entity_swap", _fill(phrasing, swapped)))
    grp = [slot for slot, (kind, _) in family.slots.items() if kind == "grp"]
    grp = [slot for slot in grp if not any(values[slot].startswith(q) for q in ("all", "every", "todos"))]
    if grp:  # a quantifier on one side only: "for members" / "for all members"
        slot = rng.choice(grp)
        quantified = {**values, slot: f"{rng.choice(QUANTIFIERS[family.lang])} {values[slot]}"}
        found.append(("scope", _fill(phrasing, quantified)))
    return found


def generate(*, seed: int = 13, per_family: int = 40) -> list[dict]:
    """Pairs {"a", "b", "same_answer", "category", "lang", "family", "split"} for every family."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    families = sorted(FAMILIES, key=lambda f: f.name)
    heldout = _heldout_families(families, rng)
    pairs: list[dict] = []
    for family in families:
        split = "heldout" if family.name in heldout else "train"
        for _ in range(per_family):
            values = _values(family, rng)
            phrasing = rng.choice(family.phrasings)
            a = _fill(phrasing, values)
            other_phrasing = rng.choice([p for p in family.phrasings if p != phrasing])
            paraphrase = _fill(other_phrasing, values)
            candidates = [
                ("near_repeat", near_repeat(a, family.lang, rng), True),
                ("paraphrase", paraphrase, True),
                ("paraphrase", near_repeat(paraphrase, family.lang, rng), True),
                ("paraphrase", wrapped(contracted(paraphrase), family.lang, rng), True),
            ]
            for category, text in traps(family, phrasing, values, rng):
                candidates.append((category, text, False))
                if rng.random() < 0.25:  # a frame around a trap does not make it the same request
                    candidates.append((category, wrapped(contracted(text), family.lang, rng), False))
                if rng.random() < 0.5:  # the trap reworded too: not only a one-word edit
                    candidates.append(
                        (category, _fill(other_phrasing, _slots_of(family, phrasing, text, values)), False)
                    )
            for category, b, same in candidates:
                if b != a and not (not same and b == a):
                    pairs.append(
                        {
                            "a": a,
                            "b": b,
                            "same_answer": same,
                            "category": category,
                            "lang": family.lang,
                            "family": family.name,
                            "split": split,
                        }
                    )
    return _dedupe(pairs)


def _slots_of(family: Family, phrasing: str, text: str, values: dict[str, str]) -> dict[str, str]:
    """The slot values that produced `text` from `phrasing` (to reword a trap with another phrasing)."""
    pattern = re.escape(phrasing[0].upper() + phrasing[1:])
    for slot in family.slots:
        pattern = pattern.replace(re.escape("{" + slot + "}"), f"(?P<{slot}>.+?)", 1)
    match = re.fullmatch(pattern, text) or re.fullmatch(pattern, text, re.IGNORECASE)
    if not match:
        return values
    return {slot: match.group(slot) if slot in match.groupdict() else values[slot] for slot in family.slots}


def _values(family: Family, rng: random.Random) -> dict[str, str]:
    values: dict[str, str] = {}
    for slot, (kind, options) in family.slots.items():
        pool = [v for v in options if v not in values.values()]
        values[slot] = options[0] if kind == "pol" and rng.random() < 0.5 else rng.choice(pool)
    return values


def _heldout_families(families: list[Family], rng: random.Random) -> set[str]:
    """A third of each language's families, chosen by the seed."""
    chosen: set[str] = set()
    for lang in ("en", "pt"):
        names = [f.name for f in families if f.lang == lang]
        chosen |= set(rng.sample(names, max(1, len(names) // 3)))
    return chosen


def _dedupe(pairs: list[dict]) -> list[dict]:
    seen: set[tuple[str, str]] = set()
    unique = []
    for pair in pairs:
        key = (pair["a"], pair["b"])
        if key not in seen and pair["a"] != pair["b"]:
            seen.add(key)
            unique.append(pair)
    return unique
