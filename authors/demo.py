"""Demo data: two authors per demo tenant, each with a style card (v1) and three real-sounding posts.

Run by `seed_demo` inside each tenant's scope; safe to run again (an author that exists is left alone).
"""

from __future__ import annotations

from typing import Any, TypedDict

from authors.models import Author, StyleProfile
from authors.selectors import current_style_profile
from authors.services import author_create, style_profile_save
from tenants.models import Tenant

MAYA_POSTS = [
    "We lost our biggest customer in March.\n\n"
    "Not to a competitor. To a spreadsheet.\n\n"
    'Their ops lead told me: "Your product is great. We just don\'t need it every day."\n\n'
    "That sentence rewrote our roadmap. We stopped shipping features and started shipping habits: "
    "a Monday digest, a two-click export, alerts that only fire when something is actually wrong.\n\n"
    "Daily active usage is up 41% since. Churn is down by a third.\n\n"
    "If your customers like you but don't need you, you don't have a product problem. "
    "You have a habit problem.",
    "Three things I got wrong about hiring our first sales team:\n\n"
    "1. I hired people who had sold big brands. We needed people who had sold unknown ones.\n"
    "2. I wrote the playbook before anyone had closed a deal. The first ten deals should write it.\n"
    "3. I paid for activity. Calls made, demos booked. We got a lot of both, and few customers.\n\n"
    "What works for us now: hire builders, let the first reps rewrite the pitch weekly, "
    "and pay on revenue that stays past month three.\n\n"
    "What would you add?",
    'Our board asked why we are not "doing AI".\n\n'
    "We are. We just don't put it on the homepage.\n\n"
    "It drafts the first version of every renewal summary. It flags accounts whose usage drops two weeks "
    "in a row. It saves each CSM about six hours a week.\n\n"
    "Customers never see the word AI. They see fewer surprises.\n\n"
    "That's the bar I care about.",
]

RAFAEL_POSTS = [
    "Em 2019, 38% dos nossos clientes nunca tinham tido cartão de crédito.\n\n"
    "Hoje eles pagam boleto, fazem Pix e parcelam compras pelo app. Mas o número que mais me orgulha "
    "não é esse.\n\n"
    "É que 7 em cada 10 abriram uma reserva de emergência pela primeira vez na vida.\n\n"
    "Fintech não é sobre app bonito. É sobre mudar o que a pessoa consegue fazer no fim do mês.",
    "Uma lição cara que aprendi com o Banco Central:\n\n"
    "compliance não é o departamento que diz não. É o time que te deixa dormir à noite.\n\n"
    "Quando trouxemos compliance para a mesa desde o primeiro rascunho do produto, o tempo de aprovação "
    "de novas funcionalidades caiu de 4 meses para 5 semanas.\n\n"
    "Menos retrabalho, menos susto, mais produto na mão do cliente.\n\n"
    "#fintech #compliance",
    "Recebi essa mensagem de uma cliente de Caruaru ontem:\n\n"
    '"Consegui o primeiro empréstimo da minha vida sem precisar de fiador."\n\n'
    "Ela vende bolos. Usou o crédito para comprar um forno novo e dobrou a produção em dois meses.\n\n"
    "É por isso que a gente analisa fluxo de caixa, e não só score. O score conta o passado. "
    "O fluxo de caixa mostra o que a pessoa está construindo.\n\n"
    "Bom dia, e bora trabalhar. 💪",
]


class DemoAuthor(TypedDict):
    author: dict[str, str]  # author_create's arguments
    card: dict[str, Any]  # style_profile_save's style fields


DEMO_AUTHORS: list[DemoAuthor] = [
    {
        "author": {
            "name": "Maya Chen",
            "headline": "CEO and co-founder at Loopline (B2B SaaS for customer success teams)",
            "audience": "Founders, VPs of Customer Success and revenue leaders at B2B SaaS companies.",
            "language": "en",
        },
        "card": {
            "tone": "Candid founder voice: opens with a blunt fact or a loss, tells what she learned, "
            "ends with a one-line takeaway. Short sentences, first person, numbers as evidence. "
            "Confident but never boastful.",
            "vocabulary_prefer": ["customers", "churn", "habit", "we shipped", "here's what changed"],
            "vocabulary_avoid": ["synergy", "leverage", "disrupt", "game-changer"],
            "banned_phrases": ["I'm thrilled to announce", "Agree?", "Let that sink in"],
            "formatting": {
                "length": "120-200 words",
                "emoji": "none",
                "hashtags": "none",
                "line_breaks": "one idea per paragraph, blank line between, many one-line paragraphs",
                "lists": "numbered lists for lessons",
            },
            "sample_posts": MAYA_POSTS,
        },
    },
    {
        "author": {
            "name": "Rafael Nogueira",
            "headline": "Fundador e CEO da Cofrinho (fintech de crédito para pequenos negócios)",
            "audience": "Empreendedores, investidores e profissionais do mercado financeiro no Brasil.",
            "language": "pt-BR",
        },
        "card": {
            "tone": "Caloroso e direto, em português do Brasil coloquial. Abre com um dado ou uma história "
            "real de cliente, tira uma lição prática e fecha com uma frase curta de propósito. "
            "Otimista sem ser ingênuo; fala em 'a gente'.",
            "vocabulary_prefer": ["a gente", "cliente", "fim do mês", "na prática", "bora"],
            "vocabulary_avoid": ["disruptivo", "sinergia", "empoderar", "jornada do cliente"],
            "banned_phrases": ["Gratidão!", "Sextou", "Vem comigo nessa jornada"],
            "formatting": {
                "length": "80-150 palavras",
                "emoji": "no máximo um, no fim",
                "hashtags": "até 2, no fim, só quando o tema é técnico",
                "line_breaks": "parágrafos de uma ou duas frases, linha em branco entre eles",
                "lists": "raramente",
            },
            "sample_posts": RAFAEL_POSTS,
        },
    },
]


def seed(*, tenant: Tenant) -> None:
    """Runs inside `tenant_scope(tenant)` (seed_demo); adds what is missing, changes nothing else."""
    for spec in DEMO_AUTHORS:
        author = Author.objects.filter(name=spec["author"]["name"]).first()
        if author is None:
            author = author_create(**spec["author"])
        if current_style_profile(author=author) is None:
            style_profile_save(
                author=author, created_by=None, source=StyleProfile.Source.MANUAL, **spec["card"]
            )
