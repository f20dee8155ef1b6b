"""Writes bench/data/memory_contradictions.jsonl: labelled pairs of memories of one author, EN and PT.

    python bench/data/memory_contradictions_make.py     # deterministic (seeded); rewrites the file

Each subject family states one kind of fact in two wordings per language and has a sibling: a fact of
the same family about something else ("employees" / "customers"). From each family and language:

- duplicate: the same value in two wordings of the statement, written differently ("two years
  earlier" / "2 years before", "120" / "cento e vinte", "$2M" / "2 million dollars");
- contradiction: two different values (or the opposite polarity) of the same statement;
- compatible: the statement and its sibling (with the same value or another), or the same figure
  given for two different years;
- unrelated: the statement and a statement of another family.

Families are split by name: a fixed third of them (`HELD_OUT`) is held out, never used to choose a
threshold. Every pair also carries the family's search query, for the relevance floor of search.
"""

# ruff: noqa: E501 - the subject families are a table, one family per block, easier read than wrapped

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).resolve().parent / "memory_contradictions.jsonl"

EN_UNITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
            "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen"]  # fmt: skip
EN_TENS = ["", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
PT_UNITS = ["zero", "um", "dois", "três", "quatro", "cinco", "seis", "sete", "oito", "nove", "dez", "onze",
            "doze", "treze", "catorze", "quinze", "dezasseis", "dezassete", "dezoito", "dezanove"]  # fmt: skip
PT_TENS = ["", "", "vinte", "trinta", "quarenta", "cinquenta", "sessenta", "setenta", "oitenta", "noventa"]
PT_HUNDREDS = ["", "cento", "duzentos", "trezentos", "quatrocentos", "quinhentos", "seiscentos",
               "setecentos", "oitocentos", "novecentos"]  # fmt: skip


def en_words(n: int) -> str:
    if n < 20:
        return EN_UNITS[n]
    if n < 100:
        return EN_TENS[n // 10] + ("-" + EN_UNITS[n % 10] if n % 10 else "")
    if n < 1000:
        rest = n % 100
        return EN_UNITS[n // 100] + " hundred" + (" and " + en_words(rest) if rest else "")
    rest = n % 1000
    return (
        en_words(n // 1000)
        + " thousand"
        + ((" and " if rest < 100 else " ") + en_words(rest) if rest else "")
    )


def pt_words(n: int) -> str:
    if n < 20:
        return PT_UNITS[n]
    if n < 100:
        return PT_TENS[n // 10] + (" e " + PT_UNITS[n % 10] if n % 10 else "")
    if n == 100:
        return "cem"
    if n < 1000:
        rest = n % 100
        return PT_HUNDREDS[n // 100] + (" e " + pt_words(rest) if rest else "")
    thousands, rest = divmod(n, 1000)
    head = "mil" if thousands == 1 else pt_words(thousands) + " mil"
    return head + (
        " e " + pt_words(rest)
        if rest and (rest < 100 or rest % 100 == 0)
        else " " + pt_words(rest)
        if rest
        else ""
    )


def digits(n: int, lang: str) -> str:
    text = f"{n:,}"
    return text.replace(",", ".") if lang == "pt" else text


# ---- renderings of a value: each returns the wordings of one value --------------------------------


def r_count(n: int, lang: str) -> list[str]:
    words = en_words(n) if lang == "en" else pt_words(n)
    return [digits(n, lang), words] if n < 10000 else [digits(n, lang)]


def r_percent(p: float, lang: str) -> list[str]:
    shown = f"{p:g}" if lang == "en" else f"{p:g}".replace(".", ",")
    if lang == "en":
        forms = [f"{shown}%", f"{shown} percent", f"{shown} per cent"]
        return forms + ([f"{en_words(int(p))} percent"] if p == int(p) else [])
    forms = [f"{shown}%", f"{shown} por cento"]
    return forms + ([f"{pt_words(int(p))} por cento"] if p == int(p) else [])


def r_money(amount: int, lang: str, currency: str = "USD") -> list[str]:
    millions = amount / 1_000_000
    m = f"{millions:g}" if lang == "en" else f"{millions:g}".replace(".", ",")
    if currency == "USD":
        if lang == "en":
            return [f"${m}M", f"{m} million dollars", f"${digits(amount, 'en')}", f"USD {m} million"]
        return [f"US$ {m} milhões", f"{m} milhões de dólares", f"US$ {digits(amount, 'pt')}"]
    if lang == "en":
        return [f"€{m} million", f"{m} million euros", f"EUR {digits(amount, 'en')}"]
    return [f"€{m} milhões", f"{m} milhões de euros", f"{digits(amount, 'pt')} euros"]


def r_price(amount: int, lang: str) -> list[str]:
    if lang == "en":
        return [f"${amount}", f"{amount} dollars", f"USD {amount}", f"{en_words(amount)} dollars"]
    return [f"R$ {amount}", f"{amount} reais", f"{pt_words(amount)} reais", f"BRL {amount}"]


def r_year(year: int, lang: str) -> list[str]:
    return [str(year)]


MONTHS_EN = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
             "October", "November", "December"]  # fmt: skip
MONTHS_PT = ["janeiro", "fevereiro", "março", "abril", "maio", "junho", "julho", "agosto", "setembro",
             "outubro", "novembro", "dezembro"]  # fmt: skip


def r_date(date: tuple[int, int, int], lang: str) -> list[str]:
    year, month, day = date
    if lang == "en":
        name = MONTHS_EN[month - 1]
        return [f"{day} {name} {year}", f"{name} {day}, {year}", f"{year}-{month:02d}-{day:02d}"]
    return [f"{day} de {MONTHS_PT[month - 1]} de {year}", f"{day:02d}/{month:02d}/{year}"]


def r_quarter(value: tuple[int, int], lang: str) -> list[str]:
    quarter, year = value
    if lang == "en":
        return [f"Q{quarter} {year}"]
    return [f"Q{quarter} {year}", f"{quarter}º trimestre de {year}"]


WEEKDAYS_EN = ["Mondays", "Tuesdays", "Wednesdays", "Thursdays", "Fridays"]
WEEKDAYS_PT = ["segundas-feiras", "terças-feiras", "quartas-feiras", "quintas-feiras", "sextas-feiras"]


def r_weekday(day: int, lang: str) -> list[str]:
    return [WEEKDAYS_EN[day], WEEKDAYS_EN[day][:-1]] if lang == "en" else [WEEKDAYS_PT[day]]


def r_time(hour: int, lang: str) -> list[str]:
    if lang == "en":
        twelve = hour % 12 or 12
        suffix = "am" if hour < 12 else "pm"
        return [f"{twelve}{suffix}", f"{twelve} {suffix[0]}.m.", f"{hour:02d}:00"]
    return [f"{hour}h", f"{hour:02d}:00"]


def r_frequency(times: int, lang: str, unit: str = "week") -> list[str]:
    if lang == "en":
        word = {1: "once", 2: "twice"}.get(times)
        forms = [f"{en_words(times)} times a {unit}", f"{times} times per {unit}"]
        return ([f"{word} a {unit}"] if word else []) + forms
    pt_unit = {"week": "semana", "month": "mês"}[unit]
    count = "uma vez" if times == 1 else f"{pt_words(times) if times != 2 else 'duas'} vezes"
    return [f"{count} por {pt_unit}", f"{times} {'vez' if times == 1 else 'vezes'} por {pt_unit}"]


def r_duration(value: tuple[int, str, str], lang: str) -> list[str]:
    n, unit, direction = value
    en_unit = unit + ("s" if n != 1 else "")
    pt_unit = {"year": "ano", "month": "mês", "hour": "hora", "day": "dia", "week": "semana"}[unit]
    pt_unit = (pt_unit + "s" if pt_unit != "mês" else "meses") if n != 1 else pt_unit
    if lang == "en":
        word = "a" if n == 1 and unit != "hour" else "an" if n == 1 else en_words(n)
        forms = {
            "before": [f"{word} {en_unit} earlier", f"{n} {en_unit} before", f"{n} {en_unit} earlier"],
            "ago": [f"{word} {en_unit} ago", f"{n} {en_unit} ago"],
            "": [f"{word} {en_unit}", f"{n} {en_unit}"],
        }
        return forms[direction]
    count = ("um" if unit in ("year", "month", "day") else "uma") if n == 1 else pt_words(n)
    if n == 2 and unit in ("hour", "week"):
        count = "duas"
    forms = {
        "before": [f"{count} {pt_unit} antes", f"{n} {pt_unit} antes"],
        "ago": [f"há {count} {pt_unit}", f"{n} {pt_unit} atrás"],
        "": [f"{count} {pt_unit}", f"{n} {pt_unit}"],
    }
    return forms[direction]


# ---- the subject families ---------------------------------------------------------------------------
# kind: the renderer; values: distinct values to pick from; templates per language: two wordings of the
# statement and a sibling (another fact of the same family). "{v}" is the value.

FAMILIES: list[dict] = [
    {"name": "headcount", "render": r_count, "values": [12, 45, 120, 150, 230, 1200],
     "query": {"en": "team size and hiring", "pt": "tamanho da equipa e contratações"},
     "en": ["The company has {v} employees.", "{v} people work at the company."],
     "pt": ["A empresa tem {v} funcionários.", "Trabalham {v} pessoas na empresa."],
     "sibling": {"en": "The company has {v} open job positions.", "pt": "A empresa tem {v} vagas abertas."}},
    {"name": "customers", "render": r_count, "values": [80, 300, 450, 2000, 5500],
     "query": {"en": "how many customers we serve", "pt": "quantos clientes servimos"},
     "en": ["We serve {v} customers.", "Our customer base is {v} companies."],
     "pt": ["Servimos {v} clientes.", "A nossa base de clientes é de {v} empresas."],
     "sibling": {"en": "We work with {v} reseller partners.", "pt": "Trabalhamos com {v} parceiros revendedores."}},
    {"name": "founding", "render": r_year, "values": [2009, 2012, 2014, 2016, 2019],
     "query": {"en": "company history and founding", "pt": "história e fundação da empresa"},
     "en": ["The company was founded in {v}.", "Founded in {v}, the company started in a garage."],
     "pt": ["A empresa foi fundada em {v}.", "Fundada em {v}, a empresa começou numa garagem."],
     "sibling": {"en": "The company opened its second office in {v}.", "pt": "A empresa abriu o segundo escritório em {v}."}},
    {"name": "cto_joined", "render": r_duration, "values": [(1, "year", "before"), (2, "year", "before"), (3, "year", "before"), (6, "month", "before")],
     "query": {"en": "when the leadership team joined", "pt": "quando a equipa de liderança entrou"},
     "en": ["The CTO joined the company {v}, at the start.", "Our CTO came on board {v}, at the start."],
     "pt": ["O CTO entrou na empresa {v}, no início.", "O nosso CTO chegou {v}, no início."],
     "sibling": {"en": "The CFO left the company {v}, at the start.", "pt": "O CFO saiu da empresa {v}, no início."}},
    {"name": "churn", "render": r_percent, "values": [5, 8, 12, 20, 35],
     "query": {"en": "customer churn results", "pt": "resultados de churn de clientes"},
     "en": ["Customer churn fell by {v} last year.", "Last year we cut customer churn by {v}."],
     "pt": ["O churn de clientes caiu {v} no ano passado.", "No ano passado reduzimos o churn de clientes em {v}."],
     "sibling": {"en": "Customer satisfaction scores rose by {v} last year.", "pt": "A satisfação dos clientes subiu {v} no ano passado."}},
    {"name": "revenue_growth", "render": r_percent, "values": [10, 15, 25, 40, 60], "dated": [2021, 2022, 2023],
     "query": {"en": "revenue growth figures", "pt": "crescimento da receita"},
     "en": ["Revenue grew {v} in {year}.", "In {year} our revenue grew by {v}."],
     "pt": ["A receita cresceu {v} em {year}.", "Em {year} a nossa receita cresceu {v}."],
     "sibling": {"en": "Operating costs grew {v} in {year}.", "pt": "Os custos operacionais cresceram {v} em {year}."}},
    {"name": "funding", "render": r_money, "values": [1_500_000, 2_000_000, 5_000_000, 12_000_000],
     "query": {"en": "fundraising and investors", "pt": "financiamento e investidores"},
     "en": ["We raised {v} in our seed round.", "Our seed round brought in {v}."],
     "pt": ["Levantámos {v} na nossa ronda seed.", "A nossa ronda seed trouxe {v}."],
     "sibling": {"en": "We spent {v} on marketing in our first year.", "pt": "Gastámos {v} em marketing no primeiro ano."}},
    {"name": "pricing", "render": r_price, "values": [29, 49, 99, 199],
     "query": {"en": "pricing of the plans", "pt": "preços dos planos"},
     "en": ["The Pro plan costs {v} per month.", "Customers pay {v} a month for the Pro plan."],
     "pt": ["O plano Pro custa {v} por mês.", "Os clientes pagam {v} por mês pelo plano Pro."],
     "sibling": {"en": "The Basic plan costs {v} per month.", "pt": "O plano Basic custa {v} por mês."}},
    {"name": "posting_day", "render": r_weekday, "values": [0, 1, 2, 3, 4],
     "query": {"en": "best day to publish", "pt": "melhor dia para publicar"},
     "en": ["Publish LinkedIn posts on {v}.", "LinkedIn posts go out on {v}."],
     "pt": ["Publicar os posts do LinkedIn às {v}.", "Os posts do LinkedIn saem às {v}."],
     "sibling": {"en": "Send the email newsletter on {v}.", "pt": "Enviar a newsletter por email às {v}."}},
    {"name": "posting_time", "render": r_time, "values": [8, 9, 12, 17],
     "query": {"en": "what time of day to post", "pt": "a que horas publicar"},
     "en": ["Schedule posts for {v}.", "Posts should be scheduled at {v}."],
     "pt": ["Agendar os posts para as {v}.", "Os posts devem ser agendados para as {v}."],
     "sibling": {"en": "Answer comments every day by {v}.", "pt": "Responder aos comentários todos os dias até às {v}."}},
    {"name": "frequency", "render": r_frequency, "values": [1, 2, 3, 5],
     "query": {"en": "how often the author posts", "pt": "com que frequência o autor publica"},
     "en": ["The author posts on LinkedIn {v}.", "On LinkedIn the author publishes {v}."],
     "pt": ["O autor publica no LinkedIn {v}.", "No LinkedIn o autor faz posts {v}."],
     "sibling": {"en": "The author records a podcast episode {v}.", "pt": "O autor grava um episódio de podcast {v}."}},
    {"name": "post_length", "render": r_count, "values": [150, 200, 250, 300],
     "query": {"en": "length of posts", "pt": "tamanho dos posts"},
     "en": ["Keep posts under {v} words.", "Posts should stay below {v} words."],
     "pt": ["Manter os posts abaixo de {v} palavras.", "Os posts devem ficar abaixo de {v} palavras."],
     "sibling": {"en": "Keep headlines under {v} characters.", "pt": "Manter os títulos abaixo de {v} caracteres."}},
    {"name": "emojis", "polar": True,
     "query": {"en": "emojis in posts", "pt": "emojis nos posts"},
     "en": ["Use emojis in posts.", "Posts should include emojis."], "en_neg": ["Never use emojis in posts.", "Posts should not include emojis."],
     "pt": ["Usar emojis nos posts.", "Os posts devem incluir emojis."], "pt_neg": ["Nunca usar emojis nos posts.", "Os posts não devem incluir emojis."],
     "sibling": {"en": "Use hashtags at the end of posts.", "pt": "Usar hashtags no fim dos posts."}},
    {"name": "competitors", "polar": True,
     "query": {"en": "talking about competitors", "pt": "falar da concorrência"},
     "en": ["Mention competitors by name.", "Name competitors when comparing products."], "en_neg": ["Do not mention competitors by name.", "Never name competitors when comparing products."],
     "pt": ["Mencionar os concorrentes pelo nome.", "Nomear os concorrentes ao comparar produtos."], "pt_neg": ["Não mencionar os concorrentes pelo nome.", "Nunca nomear os concorrentes ao comparar produtos."],
     "sibling": {"en": "Mention customers by name when they agree.", "pt": "Mencionar os clientes pelo nome quando autorizarem."}},
    {"name": "launch_date", "render": r_date, "values": [(2021, 3, 15), (2021, 9, 1), (2022, 5, 10), (2023, 11, 20)],
     "query": {"en": "product launch timeline", "pt": "calendário de lançamento do produto"},
     "en": ["The product launched on {v}.", "Our product went live on {v}."],
     "pt": ["O produto foi lançado a {v}.", "O nosso produto entrou no ar a {v}."],
     "sibling": {"en": "The public beta opened on {v}.", "pt": "A beta pública abriu a {v}."}},
    {"name": "countries", "render": r_count, "values": [3, 7, 12, 18, 25],
     "query": {"en": "international presence", "pt": "presença internacional"},
     "en": ["The company has offices in {v} countries.", "We run offices in {v} countries."],
     "pt": ["A empresa tem escritórios em {v} países.", "Temos escritórios em {v} países."],
     "sibling": {"en": "The company ships to customers in {v} countries.", "pt": "A empresa envia para clientes em {v} países."}},
    {"name": "nps", "render": r_count, "values": [42, 55, 61, 72],
     "query": {"en": "customer loyalty score", "pt": "pontuação de lealdade dos clientes"},
     "en": ["Our net promoter score is {v}.", "The net promoter score of the product stands at {v}."],
     "pt": ["O nosso net promoter score é {v}.", "O net promoter score do produto está em {v}."],
     "sibling": {"en": "Our support team closes tickets with a satisfaction score of {v}.", "pt": "A equipa de suporte fecha tickets com uma satisfação de {v}."}},
    {"name": "keynote", "render": r_duration, "values": [(1, "year", "ago"), (2, "year", "ago"), (3, "year", "ago"), (5, "year", "ago")],
     "query": {"en": "speaking at conferences", "pt": "palestras em conferências"},
     "en": ["Ana gave the keynote at Web Summit {v}.", "Ana was the Web Summit keynote speaker {v}."],
     "pt": ["A Ana deu a palestra principal no Web Summit {v}.", "A Ana foi oradora principal do Web Summit {v}."],
     "sibling": {"en": "Ana started her own podcast {v}.", "pt": "A Ana começou o seu próprio podcast {v}."}},
    {"name": "contract_length", "render": r_duration, "values": [(6, "month", ""), (12, "month", ""), (24, "month", ""), (3, "year", "")],
     "query": {"en": "contract terms", "pt": "condições dos contratos"},
     "en": ["Enterprise contracts run for {v}.", "An enterprise contract lasts {v}."],
     "pt": ["Os contratos enterprise duram {v}.", "Um contrato enterprise tem a duração de {v}."],
     "sibling": {"en": "The free trial lasts {v}.", "pt": "O período de teste gratuito dura {v}."}},
    {"name": "uptime", "render": r_percent, "values": [99.5, 99.9, 99.95, 98],
     "query": {"en": "platform reliability", "pt": "fiabilidade da plataforma"},
     "en": ["Platform uptime was {v} last quarter.", "Last quarter the platform was up {v} of the time."],
     "pt": ["A disponibilidade da plataforma foi de {v} no último trimestre.", "No último trimestre a plataforma esteve disponível {v} do tempo."],
     "sibling": {"en": "The error rate of the API was {v} last quarter.", "pt": "A taxa de erro da API foi de {v} no último trimestre."}},
    {"name": "market_share", "render": r_percent, "values": [8, 14, 22, 30],
     "query": {"en": "market share", "pt": "quota de mercado"},
     "en": ["We hold {v} of the payroll software market in Brazil.", "Our share of the payroll software market in Brazil is {v}."],
     "pt": ["Temos {v} do mercado de software de salários no Brasil.", "A nossa quota do mercado de software de salários no Brasil é de {v}."],
     "sibling": {"en": "We hold {v} of the payroll software market in Portugal.", "pt": "Temos {v} do mercado de software de salários em Portugal."}},
    {"name": "books", "render": r_count, "values": [2, 3, 4, 6],
     "query": {"en": "the author's books", "pt": "os livros do autor"},
     "en": ["The author has written {v} books on leadership.", "The author is the writer of {v} books on leadership."],
     "pt": ["O autor escreveu {v} livros sobre liderança.", "O autor é o escritor de {v} livros sobre liderança."],
     "sibling": {"en": "The author has given {v} keynotes on leadership.", "pt": "O autor deu {v} palestras sobre liderança."}},
    {"name": "app_release", "render": r_quarter, "values": [(1, 2025), (2, 2025), (3, 2025), (4, 2025), (1, 2026)],
     "query": {"en": "product roadmap", "pt": "roadmap do produto"},
     "en": ["The mobile app ships in {v}.", "Release of the mobile app is planned for {v}."],
     "pt": ["A aplicação móvel sai no {v}.", "O lançamento da aplicação móvel está previsto para o {v}."],
     "sibling": {"en": "The public API ships in {v}.", "pt": "A API pública sai no {v}."}},
    {"name": "support_response", "render": r_duration, "values": [(1, "hour", ""), (2, "hour", ""), (4, "hour", ""), (24, "hour", "")],
     "query": {"en": "support response times", "pt": "tempos de resposta do suporte"},
     "en": ["Support answers every ticket within {v}.", "Every support ticket gets an answer within {v}."],
     "pt": ["O suporte responde a cada ticket em {v}.", "Cada ticket de suporte recebe resposta em {v}."],
     "sibling": {"en": "Sales calls back every lead within {v}.", "pt": "A equipa comercial liga a cada lead em {v}."}},
    {"name": "newsletter", "render": r_count, "values": [900, 3500, 12000, 25000],
     "query": {"en": "newsletter audience", "pt": "audiência da newsletter"},
     "en": ["The newsletter has {v} subscribers.", "{v} readers subscribe to the newsletter."],
     "pt": ["A newsletter tem {v} subscritores.", "{v} leitores subscrevem a newsletter."],
     "sibling": {"en": "The LinkedIn page has {v} followers.", "pt": "A página do LinkedIn tem {v} seguidores."}},
    {"name": "office_move", "render": r_date, "values": [(2020, 1, 6), (2022, 7, 1), (2024, 2, 12)],
     "query": {"en": "where the office is", "pt": "onde fica o escritório"},
     "en": ["The team moved into the new headquarters on {v}.", "We moved to the new headquarters on {v}."],
     "pt": ["A equipa mudou-se para a nova sede a {v}.", "Mudámo-nos para a nova sede a {v}."],
     "sibling": {"en": "The team held its first offsite on {v}.", "pt": "A equipa fez o primeiro offsite a {v}."}},
    {"name": "formality", "polar": True,
     "query": {"en": "tone of voice", "pt": "tom de voz"},
     "en": ["Write in a formal tone.", "Posts use a formal register."], "en_neg": ["Do not write in a formal tone.", "Posts never use a formal register."],
     "pt": ["Escrever num tom formal.", "Os posts usam um registo formal."], "pt_neg": ["Não escrever num tom formal.", "Os posts nunca usam um registo formal."],
     "sibling": {"en": "Write in the first person.", "pt": "Escrever na primeira pessoa."}},
]  # fmt: skip

# A third of the families, by name, never used to choose a threshold.
HELD_OUT = {"customers", "churn", "pricing", "frequency", "launch_date", "keynote", "market_share",
            "app_release", "formality"}  # fmt: skip

# More training families whose two wordings share few words ("The company runs 4 offices" / "We have
# 4 locations around the world"), as an author restating a fact in other words does. They come after
# the others with a generator of their own, so the rows above (held-out ones included) stay as they
# were; none of them is held out.
MORE_TRAINING: list[dict] = [
    {"name": "offices", "render": r_count, "values": [2, 4, 5, 9],
     "query": {"en": "office locations", "pt": "localização dos escritórios"},
     "en": ["The company runs {v} offices.", "We have {v} locations around the world."],
     "pt": ["A empresa tem {v} escritórios.", "Estamos presentes em {v} cidades pelo mundo."],
     "sibling": {"en": "The company runs {v} warehouses.", "pt": "A empresa tem {v} armazéns."}},
    {"name": "team_growth", "render": r_percent, "values": [10, 25, 30, 50],
     "query": {"en": "how fast the team grows", "pt": "crescimento da equipa"},
     "en": ["Headcount grew {v} this year.", "This year we hired enough people to make the team {v} bigger."],
     "pt": ["O número de funcionários cresceu {v} este ano.", "Este ano contratámos gente suficiente para a equipa ficar {v} maior."],
     "sibling": {"en": "Office rent went up {v} this year.", "pt": "A renda do escritório subiu {v} este ano."}},
    {"name": "team_meeting", "render": r_weekday, "values": [0, 1, 2, 3, 4],
     "query": {"en": "team rituals", "pt": "rituais da equipa"},
     "en": ["The weekly team meeting is on {v}.", "Everyone gets together for the weekly sync on {v}."],
     "pt": ["A reunião semanal da equipa é às {v}.", "Toda a gente se junta para o ponto de situação às {v}."],
     "sibling": {"en": "The monthly board meeting is on {v}.", "pt": "A reunião mensal da administração é às {v}."}},
    {"name": "order_value", "render": r_price, "values": [29, 49, 99, 199],
     "query": {"en": "what customers spend", "pt": "quanto gastam os clientes"},
     "en": ["The average order is worth {v}.", "On average a customer spends {v} per purchase."],
     "pt": ["O pedido médio vale {v}.", "Em média cada cliente gasta {v} por compra."],
     "sibling": {"en": "The average shipping cost is {v}.", "pt": "O custo médio de envio é {v}."}},
    {"name": "episodes", "render": r_count, "values": [20, 35, 50, 120],
     "query": {"en": "the author's podcast", "pt": "o podcast do autor"},
     "en": ["The podcast has published {v} episodes.", "So far {v} episodes of the show are out."],
     "pt": ["O podcast já publicou {v} episódios.", "Até agora saíram {v} episódios do programa."],
     "sibling": {"en": "The podcast has {v} sponsors.", "pt": "O podcast tem {v} patrocinadores."}},
    {"name": "sales_lead", "render": r_date, "values": [(2024, 1, 8), (2024, 6, 3), (2025, 2, 17)],
     "query": {"en": "new hires in leadership", "pt": "novas contratações na liderança"},
     "en": ["The new head of sales starts on {v}.", "Our sales lead joins us on {v}."],
     "pt": ["O novo diretor comercial começa a {v}.", "O nosso responsável de vendas junta-se a nós a {v}."],
     "sibling": {"en": "The new head of marketing starts on {v}.", "pt": "A nova diretora de marketing começa a {v}."}},
    {"name": "slang", "polar": True,
     "query": {"en": "informal language", "pt": "linguagem informal"},
     "en": ["Use casual slang in posts.", "Informal expressions are welcome in the writing."], "en_neg": ["Never use casual slang in posts.", "Informal expressions are not welcome in the writing."],
     "pt": ["Usar gírias nos posts.", "Expressões informais são bem-vindas nos textos."], "pt_neg": ["Nunca usar gírias nos posts.", "Expressões informais não são bem-vindas nos textos."],
     "sibling": {"en": "Use short paragraphs in posts.", "pt": "Usar parágrafos curtos nos posts."}},
]  # fmt: skip


def _fill(template: str, value: str, year: int | None = None) -> str:
    text = template.replace("{v}", value).replace("{year}", str(year or ""))
    return text[0].upper() + text[1:]


def _pairs_for(family: dict, lang: str, rng: random.Random) -> list[tuple[str, str, str]]:
    if family.get("polar"):
        return _polar_pairs(family, lang)
    render, wordings, sibling = family["render"], family[lang], family["sibling"][lang]
    years = family.get("dated") or [None]
    pairs = []
    for value in family["values"]:
        forms = render(value, lang)
        year = rng.choice(years)
        first, second = rng.sample(forms, 2) if len(forms) > 1 else (forms[0], forms[0])
        pairs.append((_fill(wordings[0], first, year), _fill(wordings[1], second, year), "duplicate"))
        other = rng.choice([v for v in family["values"] if v != value])
        pairs.append(
            (
                _fill(rng.choice(wordings), rng.choice(forms), year),
                _fill(rng.choice(wordings), rng.choice(render(other, lang)), year),
                "contradiction",
            )
        )
        # The sibling states another fact, with another value or (as often) the same one.
        sibling_value = rng.choice([value, other])
        pairs.append(
            (
                _fill(rng.choice(wordings), rng.choice(forms), year),
                _fill(sibling, rng.choice(render(sibling_value, lang)), year),
                "compatible",
            )
        )
        if family.get("dated"):
            y1, y2 = rng.sample(family["dated"], 2)
            pairs.append(
                (
                    _fill(wordings[0], rng.choice(forms), y1),
                    _fill(wordings[1], rng.choice(render(other, lang)), y2),
                    "compatible",
                )
            )
    return pairs


def _polar_pairs(family: dict, lang: str) -> list[tuple[str, str, str]]:
    positive, negative, sibling = family[lang], family[f"{lang}_neg"], family["sibling"][lang]
    return [
        (positive[0], positive[1], "duplicate"),
        (negative[0], negative[1], "duplicate"),
        (positive[0], negative[0], "contradiction"),
        (positive[1], negative[1], "contradiction"),
        (positive[0], negative[1], "contradiction"),
        (negative[0], positive[1], "contradiction"),
        (positive[0], sibling, "compatible"),
        (negative[1], sibling, "compatible"),
    ]


def build(seed: int = 13) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for family in FAMILIES:
        split = "heldout" if family["name"] in HELD_OUT else "train"
        same_split = [
            f for f in FAMILIES if f is not family and (f["name"] in HELD_OUT) == (split == "heldout")
        ]
        rows += _family_rows(family, split, same_split, rng)
    more = random.Random(seed + 1)  # a generator of their own: the rows above stay as they were
    train = [f for f in FAMILIES + MORE_TRAINING if f["name"] not in HELD_OUT]
    for family in MORE_TRAINING:
        rows += _family_rows(family, "train", [f for f in train if f is not family], more)
    return rows


def _family_rows(family: dict, split: str, others: list[dict], rng: random.Random) -> list[dict]:
    """A family's pairs in both languages, and a third as many "unrelated" ones against `others`."""
    rows = []
    for lang in ("en", "pt"):
        pairs = _pairs_for(family, lang, rng)
        for a, _, _ in pairs[: max(4, len(pairs) // 3)]:
            pairs.append((a, _statement_of(rng.choice(others), lang, rng), "unrelated"))
        rows += [
            {"a": a, "b": b, "label": label, "family": family["name"], "lang": lang, "split": split,
             "query": family["query"][lang]}
            for a, b, label in pairs
        ]  # fmt: skip
    return rows


def _statement_of(family: dict, lang: str, rng: random.Random) -> str:
    if family.get("polar"):
        return rng.choice(family[lang] + family[f"{lang}_neg"])
    value = rng.choice(family["values"])
    return _fill(
        rng.choice(family[lang]),
        rng.choice(family["render"](value, lang)),
        rng.choice(family.get("dated") or [2023]),
    )


def main() -> None:
    rows = build()
    OUT.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    print(f"wrote {len(rows)} pairs to {OUT}")


if __name__ == "__main__":
    main()
