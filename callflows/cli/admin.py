"""`callflows admin`: create admin users and serve the admin web app (its own port)."""

from __future__ import annotations

import sys

import click

from callflows.cli.common import open_store


@click.group()
def admin() -> None:
    """The admin web app: edit and publish flows, see calls, numbers and the dashboard."""


@admin.command("create-user")
@click.argument("username")
@click.option("--role", type=click.Choice(["viewer", "editor", "admin"]), default="viewer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
def create_user_cmd(username: str, role: str, password_stdin: bool) -> None:
    """Create USERNAME with a role (asks for the password twice unless --password-stdin)."""
    from admin.security import create_user

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    store = open_store()
    try:
        with store.session() as s:
            create_user(s, username, password, role, actor="cli")
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {username}")


@admin.command("run")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8050, show_default=True, type=int)
@click.option("--workers", default=0, type=int,
              help="Serve with gunicorn: this many worker processes of 8 threads each (0: the threaded werkzeug "
                   "server). Test chats live in the process that started them: keep 1 unless the proxy is sticky.")
@click.option("--debug", is_flag=True, help="Werkzeug debugger and reloader (never on a public address).")
def run_cmd(host: str, port: int, workers: int, debug: bool) -> None:
    """Serve the admin web app (separate from the phone server)."""
    from admin import create_app

    app = create_app(open_store())
    click.echo(f"Callflows admin on http://{host}:{port}/ (Ctrl-C to stop)")
    if workers > 0:
        from gunicorn.app.base import BaseApplication

        class _Gunicorn(BaseApplication):  # type: ignore[misc]
            def load_config(self) -> None:
                self.cfg.set("bind", f"{host}:{port}")
                self.cfg.set("workers", workers)
                self.cfg.set("worker_class", "gthread")
                self.cfg.set("threads", 8)
                self.cfg.set("accesslog", "-")

            def load(self):  # noqa: ANN202
                return app

        _Gunicorn().run()
        return
    app.run(host=host, port=port, debug=debug, use_reloader=debug, threaded=True)
