"""The ``asdfeat`` command line.

Each public module in :mod:`asdfeat.commands` defines ``register(app)``, which adds
its commands to the typer app. Command modules import heavy dependencies
(torch, zarr) inside the command functions, so ``asdfeat --help`` stays fast.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import sys

import click
import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.markup import escape

import asdfeat.commands
from asdfeat import __version__
from asdfeat.errors import AsdfeatError

app = typer.Typer(
    name="asdfeat",
    help="Extract, store and score embeddings for machine-sound anomaly detection.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

error_console = Console(stderr=True)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"asdfeat {__version__}")
        raise typer.Exit()


@app.callback()
def _configure(
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log debug messages."),
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version."
    ),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(message)s",
        handlers=[RichHandler(console=error_console, show_path=False)],
    )


def _register_commands() -> None:
    for module_info in sorted(pkgutil.iter_modules(asdfeat.commands.__path__), key=lambda m: m.name):
        if module_info.name.startswith("_"):  # shared helpers, not commands
            continue
        module = importlib.import_module(f"asdfeat.commands.{module_info.name}")
        module.register(app)


_register_commands()


def main() -> None:
    """Run the CLI; user errors print one message and exit with status 2."""
    try:
        # Without standalone mode, typer returns the exit code of an
        # interrupted command (130 for Ctrl-C) instead of exiting.
        exit_code = app(standalone_mode=False)
    except AsdfeatError as error:
        # Messages may contain brackets such as "[checkpoints]", which rich would read as markup.
        _fail(escape(str(error)))
    except OSError as error:
        _fail(_describe_os_error(error))
    except typer.Exit as stop:
        sys.exit(stop.exit_code)
    except typer.Abort:
        error_console.print("aborted")
        sys.exit(130)
    except (click.ClickException, typer.TyperException) as error:
        # Usage errors: typer 0.29 raises its own copy of click's exception
        # classes, which derive from TyperException rather than click's.
        error.show()
        sys.exit(error.exit_code)

    if exit_code == 130:
        error_console.print("interrupted; stored rows are kept, and rerunning the command resumes")
    if isinstance(exit_code, int) and exit_code:
        sys.exit(exit_code)


def _fail(message: str) -> None:
    error_console.print(f"[bold red]error:[/] {message}", highlight=False)
    sys.exit(2)


def _describe_os_error(error: OSError) -> str:
    """Phrase a file-system error (permission denied, file exists, disk full) for the user."""
    reason = error.strerror or type(error).__name__
    where = f" {escape(str(error.filename))}" if error.filename else ""
    return f"{reason}:{where}; check the path and its permissions, or choose another location"


if __name__ == "__main__":
    main()
