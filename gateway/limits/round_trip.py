"""Several primitives' Redis work in one round trip.

A call's admission (its rate limits, its budget hold, the journal entry of its first attempt) and its
settling (the hold turned into spend, the token buckets reconciled) are each independent steps on
keys of their own. Sent one after another they cost a round trip each, about 0.2 ms of wall and CPU
time with redis-py on loopback; sent as one pipeline they cost one. Each primitive builds its part
(`ScriptCall`, `Command`) and reads its own reply afterwards, so the logic stays in the primitive and
its one-step method is the same code run alone.

The pipeline is not a transaction: every part runs on its own, as it would one after another, and the
caller undoes the parts a refusal of another part makes moot (a hold when a rate limit refused).
Scripts go as EVALSHA. redis-py's own script calls in a pipeline first ask `SCRIPT EXISTS` (a round
trip more); here a script Redis does not know yet (first use, or after a restart flushed its script
cache) answers NOSCRIPT alone and is run again by itself, which loads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError, ResponseError


@dataclass(frozen=True)
class ScriptCall:
    """One run of a registered Lua script."""

    script: AsyncScript
    keys: list[str]
    args: list[Any]

    def queue(self, pipe: Pipeline) -> None:
        pipe.evalsha(self.script.sha, len(self.keys), *self.keys, *self.args)

    async def run(self) -> Any:
        return await self.script(keys=self.keys, args=self.args)


@dataclass(frozen=True)
class Command:
    """One plain Redis command, as `execute_command` takes it."""

    args: tuple[Any, ...]

    def queue(self, pipe: Pipeline) -> None:
        pipe.execute_command(*self.args)

    async def run(self) -> Any:  # pragma: no cover - plain commands never answer NOSCRIPT
        raise RuntimeError("a plain command is never run again")


Part = ScriptCall | Command


async def run_together(redis: Redis, parts: Sequence[Part]) -> list[Any]:
    """The replies of `parts`, in order, from one round trip. A part Redis refused raises here, as it
    would run alone; connection errors are retried by the client as for any command."""
    if not parts:
        return []
    pipe = redis.pipeline(transaction=False)
    for part in parts:
        part.queue(pipe)
    replies = list(await pipe.execute(raise_on_error=False))
    for index, (part, reply) in enumerate(zip(parts, replies, strict=True)):
        if isinstance(reply, NoScriptError) and isinstance(part, ScriptCall):
            replies[index] = await part.run()  # loads the script, then runs it
        elif isinstance(reply, ResponseError):
            raise reply
    return replies
