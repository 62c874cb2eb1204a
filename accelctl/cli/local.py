"""`accelctl local`: start, stop and inspect the embedded pool (a Ray head on 127.0.0.1).

Nothing here prints the pool's token: only the path of the file that holds it.
"""

from __future__ import annotations

from typing import Any

import click

from accelctl.cli.jobs import say
from accelctl.cli.output import emit_data, output_option

# What `local status -o json|yaml` reports; the state file holds nothing secret, but the
# keys are listed so that a later addition there does not reach the output unseen.
_STATUS_KEYS = ("address", "gcs_address", "client_address", "pid", "token_file", "temp_dir", "ray_version",
                "started_at")


@click.group()
def local() -> None:
    """The embedded pool: a Ray head on 127.0.0.1 behind a token, started on demand."""


@local.command(name="status")
@output_option
def local_status(fmt: str) -> None:
    """Is the local pool running, where, and where its token file is."""
    from accelctl.backends.local import LocalRay

    pool = LocalRay()
    state = pool.status()
    if fmt != "table":
        data: dict[str, Any] = {"running": state is not None}
        if state:
            data.update({key: state.get(key) for key in _STATUS_KEYS})
        else:
            data["token_file"] = str(pool.token_file)
        emit_data(data, fmt)
        return
    if state is None:
        click.echo("local pool: stopped (the first job that needs it starts it)")
        return
    click.echo(f"local pool: running at {state['address']} (Ray {state['ray_version']}, pid {state['pid']})\n"
               f"  token file:    {state['token_file']}\n"
               f"  session files: {state['temp_dir']}")


@local.command(name="start")
def local_start() -> None:
    """Start the local pool now (jobs start it on demand anyway). Prints its address."""
    from accelctl.backends.local import LocalRay

    click.echo(LocalRay().ensure_started(say))


@local.command(name="stop")
def local_stop() -> None:
    """Stop the local pool and every process it started; jobs still running on it are ended."""
    from accelctl.backends.local import LocalRay

    pool = LocalRay()
    running = pool.running_jobs()
    if running:
        say(f"stopping the local pool ends {len(running)} job(s) still running on it: {', '.join(running)}")
    click.echo("local pool: stopped" if pool.stop() else "local pool: was not running")
