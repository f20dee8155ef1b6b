"""Public labels for the cold start: RouteLLM's MMLU labels (Apache-2.0), split by subject.

`<dir>/mmlu_<subject>.csv` has `prompt,<weak model>,<strong model>` with True/False: whether
Mixtral-8x7B-Instruct and GPT-4-1106 answered the question right. `contaminated_prompts.jsonl` lists
questions that also appear in RouteLLM's training data: never evaluated on (see `evaluable`).

The split is by subject so no subject is on both sides: a held-out figure then says how the router
does on domains it never saw, which is what a tenant's traffic is to a router trained on MMLU.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from gateway.router_model.features import messages_for_labels, router_text

WEAK_COLUMN = "mistralai/Mixtral-8x7B-Instruct-v0.1"
STRONG_COLUMN = "gpt-4-1106-preview"
SPLIT_SEED = "maestro-router-v1"
TEST_FRACTION = 0.25


@dataclass(frozen=True)
class LabelledPrompt:
    subject: str
    prompt: str
    weak: float
    strong: float
    contaminated: bool = False


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _truth(value: str) -> float:
    lowered = value.strip().lower()
    if lowered in ("true", "1"):
        return 1.0
    if lowered in ("false", "0"):
        return 0.0
    return float(lowered)


def contaminated_prompts(directory: Path) -> set[str]:
    path = directory / "contaminated_prompts.jsonl"
    if not path.exists():
        return set()
    found = set()
    for line in path.read_text().splitlines():
        if line.strip():
            record = json.loads(line)
            for key in ("eval_prompt", "train_prompt"):
                if record.get(key):
                    found.add(_normalise(record[key]))
    return found


def load_mmlu(directory: Path | str) -> list[LabelledPrompt]:
    directory = Path(directory)
    files = sorted(directory.glob("mmlu_*.csv"))
    if not files:
        raise FileNotFoundError(f"No mmlu_*.csv files in {directory}.")
    contaminated = contaminated_prompts(directory)
    items = []
    for path in files:
        subject = path.stem.removeprefix("mmlu_")
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                items.append(
                    LabelledPrompt(
                        subject=subject,
                        prompt=row["prompt"],
                        weak=_truth(row[WEAK_COLUMN]),
                        strong=_truth(row[STRONG_COLUMN]),
                        contaminated=_normalise(row["prompt"]) in contaminated,
                    )
                )
    return items


def held_out_subjects(
    subjects: Iterable[str], *, fraction: float = TEST_FRACTION, seed: str = SPLIT_SEED
) -> list[str]:
    """A fixed quarter of the subjects, picked by a hash of their names (not by looking at results)."""
    ordered = sorted(set(subjects), key=lambda s: hashlib.sha256(f"{seed}:{s}".encode()).hexdigest())
    return sorted(ordered[: max(1, round(fraction * len(ordered)))])


def split_by_subject(
    items: list[LabelledPrompt], *, fraction: float = TEST_FRACTION, seed: str = SPLIT_SEED
) -> tuple[list[LabelledPrompt], list[LabelledPrompt], list[str]]:
    """(train, test, test subjects); contaminated prompts are left out of the test side."""
    test_subjects = set(held_out_subjects((i.subject for i in items), fraction=fraction, seed=seed))
    train = [i for i in items if i.subject not in test_subjects]
    test = [i for i in items if i.subject in test_subjects and not i.contaminated]
    return train, test, sorted(test_subjects)


def evaluable(items: list[LabelledPrompt]) -> list[LabelledPrompt]:
    return [i for i in items if not i.contaminated]


def labelled_texts(items: list[LabelledPrompt]) -> list[str]:
    """Each prompt as the gateway would see it: one user message, through `router_text`."""
    return [router_text(messages_for_labels(item.prompt)) for item in items]
