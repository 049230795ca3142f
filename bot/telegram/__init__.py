"""The Telegram channel: python-telegram-bot v22 for updates, one rate-limited sender."""

import os

# Time periods from python-telegram-bot as ``datetime.timedelta`` (its v23 behaviour), which
# also silences the deprecation warning for integer ``retry_after``.
os.environ.setdefault("PTB_TIMEDELTA", "1")
