"""Tools for development, tests and benchmarks that are not part of the product (not
installed with careloop): the local fake Telegram Bot API server."""
