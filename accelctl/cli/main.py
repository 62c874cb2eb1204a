"""The `accelctl` command: global options, error handling, exit codes."""

from __future__ import annotations

import os
import sys
import traceback

import click

from accelctl import __version__
from accelctl.cli.context import Context
from accelctl.errors import AccelctlError, ExitStatus


class _Commands(click.Group):
    """The command group; a reader that goes away (`accelctl logs -f ID | head`) ends it quietly.

    click would turn a broken pipe into exit status 1; `ls | head` style use is not an error.
    """

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Point stdout at /dev/null so the interpreter's last flush cannot fail again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(ExitStatus.OK)


@click.group(cls=_Commands, invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--inventory", "inventory_path", metavar="FILE",
              help="Overlay inventory merged over the bundled one "
                   "[env ACCELCTL_INVENTORY; default <config dir>/accelctl/inventory.yaml].")
@click.option("--traceback", "traceback_flag", is_flag=True,
              help="Show Python tracebacks for errors (for bug reports).")
@click.version_option(__version__, "-V", "--version", prog_name="accelctl")
@click.pass_context
def cli(ctx: click.Context, inventory_path: str | None, traceback_flag: bool) -> None:
    """accelctl: know the chips, use them.

    A sourced catalog of AI accelerators (GPUs, TPUs, Trainium and more) with
    the reading that explains them, fit plans for open models, and jobs on the
    local pool, Ray clusters, Kubernetes clusters and SSH hosts. With no
    command, opens the interactive TUI. Run a command with -h for its options.

    \b
    Exit codes: 0 ok, 1 runtime error, 2 invalid input or usage,
                3 job failed, 4 job cancelled, 130 interrupted.
    """
    ctx.obj = Context(inventory_path)
    if ctx.invoked_subcommand is None:
        if sys.stdin.isatty() and sys.stdout.isatty():
            from accelctl.tui.app import run_tui

            run_tui(inventory_path)
        else:  # no terminal to draw on: print the catalog instead
            from accelctl.cli.catalog import ls

            ctx.invoke(ls)


def _register() -> None:
    from accelctl.cli import catalog, fit, jobs, local, render

    for command in (catalog.ls, catalog.show, catalog.compare, catalog.read, catalog.pools, catalog.validate,
                    jobs.submit, jobs.logs, jobs.jobs_cmd, jobs.cancel, local.local):
        cli.add_command(command)
    cli.add_command(render.render)
    cli.add_command(fit.fit)


_register()


def run() -> None:
    """Console-script entry point: expected errors become one line and an exit code."""
    show_traceback = "--traceback" in sys.argv[1:]
    try:
        code = cli.main(prog_name="accelctl", standalone_mode=False)
        sys.exit(code if isinstance(code, int) else ExitStatus.OK)
    except AccelctlError as e:
        if show_traceback:
            traceback.print_exc()
        _print_error(e)
        sys.exit(e.exit_status)
    except click.exceptions.Abort:
        sys.exit(130)
    except click.ClickException as e:
        e.show()
        sys.exit(ExitStatus.INVALID if e.exit_code == 2 else e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # a bug: say so in one line; details with --traceback
        if show_traceback:
            raise
        click.echo(f"accelctl: internal error: {type(e).__name__}: {e} (rerun with --traceback and report it)",
                   err=True)
        sys.exit(ExitStatus.ERROR)


def _print_error(e: AccelctlError) -> None:
    from accelctl.core.problems import ProblemsFound

    if isinstance(e, ProblemsFound):
        for problem in e.problems:
            click.echo(str(problem), err=True)
        if len(e.problems) > 1:
            fix = "fix the file" if len({p.path for p in e.problems}) == 1 else "fix the files"
            click.echo(f"accelctl: {len(e.problems)} problems; {fix}", err=True)
    else:
        click.echo(f"accelctl: error: {e}", err=True)


if __name__ == "__main__":
    run()
