"""The application on top of every package: the ``careloop`` command line (``app.cli``) and
the composition root (``app.compose``) that builds the database, the bot, the Telegram
sender and the scheduler. Nothing in careloop imports it."""
