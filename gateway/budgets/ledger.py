"""Budgets shared by every gateway process: reserve before a call, settle (or release) after it.

Usage:
    ledger = BudgetLedger(redis, "maestro:limits", load_spent=sum_costs_from_postgres)
    grant = await ledger.reserve(call_id, windows, wanted_micros=worst_case,
                                 minimum_micros=input_cost + small_output, ttl_seconds=300)
    # grant.clamped: shrink max_tokens so the call costs at most grant.granted_micros
    figures = await ledger.settle(call_id, actual_micros)   # after writing the cost to PostgreSQL
    await ledger.release(call_id)                            # instead, when the call failed unbilled

Every step is one Lua script over all the call's windows (budget_scripts.py), so concurrent calls
cannot all pass the check before any of them is recorded, and spend can never pass a limit.

Keys live under `{<prefix>:budget}`: the scripts touch a reservation's record and the keys of several
windows, and the hash tag keeps them in one Redis Cluster slot (`gateway.limits._redis.key_space`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from redis.asyncio import Redis

from gateway.budgets import scripts as budget_scripts
from gateway.budgets.rebuild import LoadSpent, SpentCounterRebuilder
from gateway.budgets.types import BudgetWindow, Grant, WindowSpend
from gateway.limits._redis import Clock, as_text, clock_arg, key_space
from gateway.limits.errors import BudgetExceeded, UnknownReservation
from gateway.limits.round_trip import ScriptCall

# Rebuilding a counter and retrying is needed at most once per window; more means counters vanish
# as soon as they are made (a window whose reset is long past).
_MAX_ATTEMPTS = 3


class BudgetLedger:
    def __init__(
        self,
        redis: Redis,
        prefix: str,
        *,
        load_spent: LoadSpent,
        counter_grace_seconds: int = 3600,
        record_grace_seconds: int = 3600,
        settled_record_seconds: float = 60,
        rebuild_lock_seconds: float = 10.0,
        clock: Clock | None = None,
    ) -> None:
        """`load_spent(window)` returns the micros spent in the window according to the durable
        records; it is called when Redis has lost a window's counter (and on a window's first use).

        Counters expire `counter_grace_seconds` after their window resets. A reservation's record
        outlives its hold by `record_grace_seconds`, the time a late settle still counts. Once settled
        or released it stays only `settled_record_seconds` (for a repeated settle to find it), so the
        Redis memory of calls is bounded by the calls of the last minute, not of the last hour.

        `clock` is for tests: it pins the time the scripts see (see `gateway.limits._redis.LUA_NOW_MS`)."""
        self._redis = redis
        self._prefix = key_space(prefix, "budget")
        self._counter_grace_seconds = counter_grace_seconds
        self._record_grace_seconds = record_grace_seconds
        self._settled_record_ms = max(1, int(settled_record_seconds * 1000))
        self._clock = clock
        self._rebuilder = SpentCounterRebuilder(redis, load_spent, lock_seconds=rebuild_lock_seconds)
        self._reserve = redis.register_script(budget_scripts.RESERVE)
        self._settle = redis.register_script(budget_scripts.SETTLE)
        self._release = redis.register_script(budget_scripts.RELEASE)
        self._usage = redis.register_script(budget_scripts.USAGE)

    async def reserve(
        self,
        reservation_id: str,
        windows: Sequence[BudgetWindow],
        *,
        wanted_micros: int,
        minimum_micros: int,
        ttl_seconds: float,
    ) -> Grant:
        """Hold up to `wanted_micros` on every window, or raise `BudgetExceeded` if some window has
        less than `minimum_micros` left. A hold not settled within `ttl_seconds` is given back."""
        call = self.reserve_call(
            reservation_id,
            windows,
            wanted_micros=wanted_micros,
            minimum_micros=minimum_micros,
            ttl_seconds=ttl_seconds,
        )
        return await self.reserve_outcome(call, await call.run(), windows, wanted_micros=wanted_micros)

    def reserve_call(
        self,
        reservation_id: str,
        windows: Sequence[BudgetWindow],
        *,
        wanted_micros: int,
        minimum_micros: int,
        ttl_seconds: float,
    ) -> ScriptCall:
        """`reserve`'s script, to run with other parts in one round trip
        (`gateway.limits.round_trip.run_together`); its reply goes to `reserve_outcome`."""
        _check_reserve_arguments(windows, wanted_micros, minimum_micros, ttl_seconds)
        record_ttl_ms = int((ttl_seconds + self._record_grace_seconds) * 1000)
        args: list[str | int] = [reservation_id, wanted_micros, minimum_micros, int(ttl_seconds * 1000)]
        args += [record_ttl_ms, _windows_to_json(windows)]
        for window in windows:
            args += [window.limit_micros, self._expire_at(window)]
        keys = [self._record_key(reservation_id), *self._keys_of(windows)]
        return ScriptCall(self._reserve, keys, [*args, clock_arg(self._clock)])

    async def reserve_outcome(
        self, call: ScriptCall, reply: list, windows: Sequence[BudgetWindow], *, wanted_micros: int
    ) -> Grant:
        """The grant `call`'s `reply` made, or `BudgetExceeded`. A reply that names counters Redis lost
        rebuilds them and runs the script again."""
        reply = await self._run(call, windows, reply=reply)
        reservation_id = str(call.args[0])
        return _grant_from_reply(reply, reservation_id, windows, wanted_micros)

    async def settle(
        self, reservation_id: str, actual_micros: int, *, windows: Sequence[BudgetWindow] | None = None
    ) -> list[WindowSpend]:
        """Turn the hold into spend of `actual_micros` on each of its windows. A repeated settle, or
        one after `release`, changes nothing and reports the current figures. Write the cost durably
        (PostgreSQL) first, so that a counter rebuilt meanwhile cannot miss it.

        `windows` are those the reservation was made with, if the caller still has them: it saves
        reading them back from the reservation's record (one round trip)."""
        _check_actual(actual_micros)
        if windows is None:
            windows = await self._windows_of(reservation_id)
        if windows is None:
            raise UnknownReservation(reservation_id)
        call = self.settle_call(reservation_id, actual_micros, windows=windows)
        return await self.settle_outcome(call, await call.run(), windows)

    def settle_call(
        self, reservation_id: str, actual_micros: int, *, windows: Sequence[BudgetWindow]
    ) -> ScriptCall:
        """`settle`'s script for a reservation made on `windows`, to run with other parts in one
        round trip; its reply goes to `settle_outcome`."""
        _check_actual(actual_micros)
        keys = [self._record_key(reservation_id), *self._keys_of(windows)]
        args = [reservation_id, actual_micros, self._settled_record_ms, clock_arg(self._clock)]
        return ScriptCall(self._settle, keys, args)

    async def settle_outcome(
        self, call: ScriptCall, reply: list, windows: Sequence[BudgetWindow]
    ) -> list[WindowSpend]:
        """Each window's spend after the settle `call` replied `reply` to; `UnknownReservation` if the
        reservation's record is gone."""
        reply = await self._run(call, windows, reply=reply)
        if as_text(reply[0]) == "unknown":
            raise UnknownReservation(str(call.args[0]))
        return [
            _spend(window, spent=after, reserved=reserved, spent_before=before)
            for window, (before, after, reserved) in zip(windows, _triples(reply[1:]), strict=True)
        ]

    async def release(self, reservation_id: str, *, windows: Sequence[BudgetWindow] | None = None) -> None:
        """Give the hold back (the call failed and costs nothing). Safe to repeat, and a no-op once
        the reservation was settled or its record has expired. `windows` as for `settle`."""
        if windows is None:
            windows = await self._windows_of(reservation_id)
        if windows is None:
            return
        await self.release_call(reservation_id, windows=windows).run()

    def release_call(self, reservation_id: str, *, windows: Sequence[BudgetWindow]) -> ScriptCall:
        """`release`'s script for a reservation made on `windows`, to run with other parts in one
        round trip (its reply says nothing the caller needs)."""
        keys = [self._record_key(reservation_id), *self._keys_of(windows)]
        return ScriptCall(self._release, keys, [reservation_id, self._settled_record_ms])

    async def usage(self, windows: Sequence[BudgetWindow]) -> list[WindowSpend]:
        """Current spend and holds of each window, for dashboards and alerts."""
        call = ScriptCall(self._usage, self._keys_of(windows), [clock_arg(self._clock)])
        reply = await self._run(call, windows)
        figures = reply[1:]
        return [
            _spend(window, spent=figures[2 * i], reserved=figures[2 * i + 1], spent_before=figures[2 * i])
            for i, window in enumerate(windows)
        ]

    async def _run(
        self, call: ScriptCall, windows: Sequence[BudgetWindow], *, reply: list | None = None
    ) -> list:
        """`call`'s reply (`reply` if it already ran), rebuilding the spent counters it reports
        missing and running it again. The scripts run here read the clock, so their last argument is
        the pinned time (or ''), taken anew for each run."""
        for _attempt in range(_MAX_ATTEMPTS):
            if reply is None:
                reply = await replace(call, args=[*call.args[:-1], clock_arg(self._clock)]).run()
            if as_text(reply[0]) != "missing":
                return reply
            for index in reply[1:]:
                window = windows[int(index) - 1]
                await self._rebuilder.rebuild(window, self._counter_key(window), self._expire_at(window))
            reply = None
        raise RuntimeError(
            "Budget counters vanished right after being rebuilt; is a window's resets_at long past?"
        )

    async def _windows_of(self, reservation_id: str) -> list[BudgetWindow] | None:
        # The window list never changes after reserve, so reading it outside the script is safe;
        # the script itself checks the reservation's state atomically.
        stored = await self._redis.hget(self._record_key(reservation_id), "windows")
        return None if stored is None else _windows_from_json(as_text(stored))

    def _keys_of(self, windows: Sequence[BudgetWindow]) -> list[str]:
        # The order the scripts expect: spent, holds, amounts for each window in turn.
        keys: list[str] = []
        for window in windows:
            base = f"{self._prefix}:window:{window.key}"
            keys += [f"{base}:spent", f"{base}:holds", f"{base}:amounts"]
        return keys

    def _counter_key(self, window: BudgetWindow) -> str:
        return f"{self._prefix}:window:{window.key}:spent"

    def _record_key(self, reservation_id: str) -> str:
        return f"{self._prefix}:reservation:{reservation_id}"

    def _expire_at(self, window: BudgetWindow) -> int:
        return int(window.resets_at.timestamp()) + self._counter_grace_seconds


def _check_actual(actual_micros: int) -> None:
    if actual_micros < 0:
        raise ValueError("actual_micros must not be negative")


def _check_reserve_arguments(
    windows: Sequence[BudgetWindow], wanted_micros: int, minimum_micros: int, ttl_seconds: float
) -> None:
    if not windows:
        raise ValueError("reserve needs at least one budget window")
    if not 0 <= minimum_micros <= wanted_micros:
        raise ValueError("need 0 <= minimum_micros <= wanted_micros")
    if ttl_seconds <= 0:
        raise ValueError("ttl_seconds must be positive")


def _grant_from_reply(
    reply: list, reservation_id: str, windows: Sequence[BudgetWindow], wanted_micros: int
) -> Grant:
    status = as_text(reply[0])
    if status == "duplicate":
        raise ValueError(f"Reservation id {reservation_id!r} was already used")
    if status == "exceeded":
        window = windows[int(reply[1]) - 1]
        raise BudgetExceeded(
            window_label=window.label,
            window_key=window.key,
            limit_micros=window.limit_micros,
            spent_micros=int(reply[2]),
            reserved_micros=int(reply[3]),
            resets_at=window.resets_at,
        )
    granted = int(reply[1])
    return Grant(reservation_id=reservation_id, granted_micros=granted, clamped=granted < wanted_micros)


def _spend(window: BudgetWindow, *, spent, reserved, spent_before) -> WindowSpend:
    return WindowSpend(
        label=window.label,
        key=window.key,
        limit_micros=window.limit_micros,
        spent_micros=int(spent),
        reserved_micros=int(reserved),
        resets_at=window.resets_at,
        spent_before_micros=int(spent_before),
    )


def _triples(values: list) -> list[tuple]:
    return [tuple(values[i : i + 3]) for i in range(0, len(values), 3)]


def _windows_to_json(windows: Sequence[BudgetWindow]) -> str:
    return json.dumps(
        [[w.key, w.limit_micros, w.resets_at.isoformat(), w.label] for w in windows],
        separators=(",", ":"),
    )


def _windows_from_json(stored: str) -> list[BudgetWindow]:
    return [
        BudgetWindow(key=key, limit_micros=limit, resets_at=datetime.fromisoformat(resets_at), label=label)
        for key, limit, resets_at, label in json.loads(stored)
    ]
