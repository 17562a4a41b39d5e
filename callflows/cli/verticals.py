"""The verticals' own commands in the CLI: `callflows <vertical> ...`, found through each
vertical's plugin (callflows/plugins), so the core CLI names none of them.

A vertical's subcommand may also be called directly (`callflows appointments list`) when no
core command and exactly one vertical has it: the commands from before verticals became
plugins keep working. A broken vertical is reported by name when its commands are asked for,
and leaves the rest of the CLI working.
"""

from __future__ import annotations

import logging

import click

from callflows.plugins import VerticalPluginError, load_plugin, plugin_names, usable_plugins

log = logging.getLogger(__name__)


class WithVerticals(click.Group):
    """A click group that adds each installed vertical's group after the core commands."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        core = super().list_commands(ctx)
        return core + sorted(p.name for p in usable_plugins() if p.cli is not None and p.name not in core)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            return command
        if cmd_name in plugin_names():
            try:
                return load_plugin(cmd_name).cli
            except VerticalPluginError as exc:
                raise click.ClickException(str(exc)) from None
        return _alias(ctx, cmd_name)


def _alias(ctx: click.Context, cmd_name: str) -> click.Command | None:
    """The one vertical subcommand called ``cmd_name``, if exactly one vertical has it."""
    found: list[tuple[str, click.Command]] = []
    for plugin in usable_plugins():
        command = plugin.cli.get_command(ctx, cmd_name) if isinstance(plugin.cli, click.Group) else None
        if command is not None:
            found.append((plugin.name, command))
    if len(found) != 1:
        return None
    log.debug("`%s` is `%s %s`", cmd_name, found[0][0], cmd_name)
    return found[0][1]
