"""Placeholder: commands are added by their owning module (see genre_core/cli.py)."""


def add_commands(subparsers) -> None:
    """Register this module's sub-commands on ``subparsers``."""
