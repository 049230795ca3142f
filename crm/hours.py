"""Business hours: when humans are in, so the bot can say honestly when they will answer.

Written like ``mon-fri 09:00-18:00, sat 10:00-14:00`` in one time zone; days not named are
closed. Parsing errors name the bad part.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PART = re.compile(
    r"^\s*(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+"
    r"(?P<open>\d{1,2}:\d{2})\s*-\s*(?P<close>\d{1,2}:\d{2})\s*$"
)


class HoursError(ValueError):
    """Business hours that cannot be read."""


@dataclass(frozen=True)
class BusinessHours:
    timezone: ZoneInfo
    windows: dict[int, tuple[dt.time, dt.time]]  # weekday (0 = Monday) → open, close

    @classmethod
    def parse(cls, spec: str, timezone: str) -> BusinessHours:
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise HoursError(f"unknown time zone {timezone!r}") from exc
        windows: dict[int, tuple[dt.time, dt.time]] = {}
        for part in filter(None, (p.strip() for p in spec.lower().split(","))):
            match = _PART.match(part)
            if match is None or match["first"] not in DAYS:
                raise HoursError(f"cannot read {part!r}; write e.g. 'mon-fri 09:00-18:00'")
            first = DAYS.index(match["first"])
            last_name = match["last"] or match["first"]
            if last_name not in DAYS:
                raise HoursError(f"unknown day {last_name!r} in {part!r}")
            last = DAYS.index(last_name)
            try:
                opens = dt.time.fromisoformat(match["open"].zfill(5))
                closes = dt.time.fromisoformat(match["close"].zfill(5))
            except ValueError as exc:
                raise HoursError(f"bad time in {part!r}") from exc
            if closes <= opens:
                raise HoursError(f"{part!r} closes before it opens")
            day = first
            while True:
                windows[day] = (opens, closes)
                if day == last:
                    break
                day = (day + 1) % 7
        return cls(zone, windows)

    def is_open(self, at: dt.datetime) -> bool:
        local = at.astimezone(self.timezone)
        window = self.windows.get(local.weekday())
        return window is not None and window[0] <= local.time() < window[1]

    def next_opening(self, at: dt.datetime) -> dt.datetime | None:
        """When humans are next in (``at`` itself when open now); None if never."""
        local = at.astimezone(self.timezone)
        for offset in range(8):
            day = local.date() + dt.timedelta(days=offset)
            window = self.windows.get(day.weekday())
            if window is None:
                continue
            opens = dt.datetime.combine(day, window[0], tzinfo=self.timezone)
            closes = dt.datetime.combine(day, window[1], tzinfo=self.timezone)
            if local < closes:
                return max(opens, local)
        return None

    def describe_next(self, at: dt.datetime) -> str | None:
        """'tomorrow at 09:00', 'Monday at 09:00' or 'today at 10:00' (local time)."""
        nxt = self.next_opening(at)
        if nxt is None:
            return None
        local = at.astimezone(self.timezone)
        days = (nxt.date() - local.date()).days
        when = "today" if days == 0 else "tomorrow" if days == 1 else nxt.strftime("%A")
        return f"{when} at {nxt.strftime('%H:%M')}"
