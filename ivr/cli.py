"""Command-line tools: ``flask --app app tokens …`` and ``flask --app app orders …``."""

from __future__ import annotations

from pathlib import Path

import click
from flask.cli import AppGroup

from ivr.extensions import db
from ivr.orders import OrderImportError, import_orders, read_orders_csv
from ivr.tokens import create_token, revoke_token

tokens = AppGroup("tokens", help="API tokens for other systems.")
orders = AppGroup("orders", help="Order statuses callers can hear.")


@tokens.command("create")
@click.argument("name")
def create_token_command(name: str) -> None:
    """Create an API token; it is printed once, on the last line."""
    token = create_token(db.session, name)
    db.session.commit()
    click.echo(f"Token for {name} (store it now; it is not shown again):")
    click.echo(token)


@tokens.command("revoke")
@click.argument("name")
def revoke_token_command(name: str) -> None:
    """Revoke every token with this name."""
    count = revoke_token(db.session, name)
    db.session.commit()
    click.echo(f"revoked {count} token(s) named {name}")


@orders.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_orders_command(path: Path) -> None:
    """Load order statuses from a CSV file (order_number,status[,carrier,eta]); all or nothing."""
    try:
        added, updated = import_orders(db.session, read_orders_csv(path))
    except (OrderImportError, UnicodeDecodeError) as exc:
        db.session.rollback()
        raise click.ClickException(f"{path}: {exc}") from None
    db.session.commit()
    click.echo(f"{added} order(s) added, {updated} updated")
