"""Redaction: precision and recall of PII detection on labelled English and Portuguese texts.

    python bench/bench_redaction.py [--split all|tune|heldout] [--show-misses]

The texts are in bench/data/redaction_tune.jsonl (the cues and word lists of gateway/redaction.py were
adjusted while looking at it) and bench/data/redaction_heldout.jsonl (written before any run and never
used to adjust anything: its figures are the honest ones). Each text lists its entities (label and
exact text); an entity is *covered* when every character of it is masked (nothing of it reaches the
provider) and *exact* when one placeholder stands for exactly its text. A masked span is a *true
positive* when it overlaps a labelled entity (of any label: masking an e-mail as a name still protects
it). Figures per split, per language and per label, with the time per text.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.redaction import PLACEHOLDER, redact

DATA = Path(__file__).resolve().parent / "data"
SPLITS = ("tune", "heldout")


def load(split: str) -> list[dict]:
    splits = SPLITS if split == "all" else (split,)
    rows = []
    for name in splits:
        path = DATA / f"redaction_{name}.jsonl"
        rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def masked_spans(text: str) -> list[tuple[int, int, str]]:
    """(start, end, label) in the original text of each placeholder `redact` put in."""
    result = redact(text)
    spans, original_at, cursor = [], 0, 0
    for match in PLACEHOLDER.finditer(result.text):
        original_at += match.start() - cursor
        value = result.mapping[match.group(0)]
        label = match.group(0)[1:].rsplit("_", 1)[0]
        spans.append((original_at, original_at + len(value), label))
        original_at += len(value)
        cursor = match.end()
    for start, end, _ in spans:  # the alignment is exact or the figures mean nothing
        assert text[start:end] in result.mapping.values()
    return spans


def gold_spans(row: dict) -> list[tuple[int, int, str]]:
    spans, taken = [], set()
    for entity in row["entities"]:
        start = row["text"].find(entity["text"])
        while start in taken:
            start = row["text"].find(entity["text"], start + 1)
        taken.add(start)
        spans.append((start, start + len(entity["text"]), entity["label"]))
    return spans


def score(rows: list[dict]) -> dict:
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    misses, false_alarms = [], []
    started = time.perf_counter()
    for row in rows:
        text = row["text"]
        predicted = masked_spans(text)
        gold = gold_spans(row)
        for start, end, label in gold:
            covered = all(any(s <= i < e for s, e, _ in predicted) for i in range(start, end))
            exact = any(s == start and e == end for s, e, _ in predicted)
            for key in ("all", row["lang"], label):
                counts[key]["gold"] += 1
                counts[key]["covered"] += covered
                counts[key]["exact"] += exact
            if not covered:
                misses.append((row["id"], label, text[start:end]))
        for start, end, label in predicted:
            hit = any(s < end and start < e for s, e, _ in gold)
            for key in ("all", row["lang"], label):
                counts[key]["masked"] += 1
                counts[key]["true"] += hit
            if not hit:
                false_alarms.append((row["id"], label, text[start:end]))
    elapsed = time.perf_counter() - started
    return {
        "counts": counts,
        "misses": misses,
        "false": false_alarms,
        "ms_per_text": elapsed * 1000 / len(rows),
    }


def _ratio(part: int, whole: int) -> str:
    return f"{part / whole:6.1%}" if whole else "    - "


def report(name: str, rows: list[dict], *, show: bool) -> None:
    result = score(rows)
    print(f"\n== {name}: {len(rows)} texts, {result['ms_per_text']:.2f} ms per text")
    print(f"{'':10} {'precision':>9} {'recall':>7} {'exact':>7} {'gold':>5} {'masked':>6}")
    counts = result["counts"]
    keys = ["all", "en", "pt", *sorted(k for k in counts if k not in ("all", "en", "pt"))]
    for key in keys:
        c = counts[key]
        print(
            f"{key:10} {_ratio(c['true'], c['masked']):>9} {_ratio(c['covered'], c['gold']):>7} "
            f"{_ratio(c['exact'], c['gold']):>7} {c['gold']:5d} {c['masked']:6d}"
        )
    if show:
        for row_id, label, text in result["misses"]:
            print(f"  missed  {row_id:5} {label:8} {text!r}")
        for row_id, label, text in result["false"]:
            print(f"  false   {row_id:5} {label:8} {text!r}")


def long_prompt_ms(rows: list[dict], *, size: int = 10_000, rounds: int = 50) -> tuple[float, float, float]:
    """Best, median and worst time to redact a prompt of `size` characters (the texts, repeated): the cost a
    long brief adds to a call."""
    text = ""
    while len(text) < size:
        text += " ".join(row["text"] for row in rows) + "\n"
    text = text[:size]
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        redact(text)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return timings[0], timings[len(timings) // 2], timings[-1]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--split", choices=("all", *SPLITS), default="all")
    parser.add_argument("--show-misses", action="store_true")
    args = parser.parse_args()
    redact("warm up the name lists: Maria Silva")
    for split in SPLITS if args.split == "all" else (args.split,):
        report(split, load(split), show=args.show_misses)
    if args.split == "all":
        report("all", load("all"), show=False)
        best, median, worst = long_prompt_ms(load("all"))
        print(
            f"\na 10,000-character prompt, 50 rounds: best {best:.1f} ms, "
            f"median {median:.1f}, worst {worst:.1f}"
        )


if __name__ == "__main__":
    main()
