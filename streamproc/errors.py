"""Errors meant for people: the CLI prints their message as one line, without a traceback."""


class UserError(Exception):
    """Something the user can fix (config, unreachable server, missing model); the message says how."""
