"""Command-line tools: ``flask --app app agents …``, ``tokens …`` and ``orders …``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ivr.api.tokens import create_token, parse_scopes, revoke_token
from ivr.audit import (
    AGENT_CREATE,
    AGENT_DISABLE,
    AGENT_ENABLE,
    AGENT_UPDATE,
    PASSWORD_RESET,
    TOKEN_CREATE,
    TOKEN_REVOKE,
    audit,
)
from ivr.callflow.orders import OrderImportError, import_orders, read_orders_csv
from ivr.clock import time_zones
from ivr.database import db
from ivr.hotline import hotline
from ivr.models import Agent, Presence, Role, Scope
from ivr.queues.agents import (
    AgentError,
    active_agent,
    check_profile,
    create_agent,
    disable_agent,
    enable_agent,
    find_agent,
    profile_of,
    set_password,
    set_presence,
    signed_out,
    update_profile,
)
from ivr.queues.entries import take_next
from ivr.twilio.rest import TwilioError

tokens = AppGroup("tokens", help="API tokens for other systems.")
agents = AppGroup("agents", help="Agent accounts, presence, taking callers.")
orders = AppGroup("orders", help="Order statuses callers can hear.")
CLI = "cli"  # who the audit log names for a change made on the server's command line


def text(limit: int) -> Callable[[click.Context, click.Parameter, str | None], str | None]:
    """A click callback: the value must be UTF-8 text of at most ``limit`` characters.

    The column holds no more (PostgreSQL refuses it), and a shell can pass bytes that are not
    text at all.
    """

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise click.BadParameter("is not UTF-8 text") from None
        if len(value) > limit:
            raise click.BadParameter(f"has {len(value)} characters; at most {limit} are allowed")
        return value

    return check


def list_option(name: str, default: str, example: str) -> Callable[[Any], Any]:
    """A click option holding a comma-separated list (languages, topics)."""
    return click.option(
        name,
        default=default,
        show_default=True,
        callback=text(256),
        help=f"Comma-separated, e.g. {example}",
    )


def time_zone(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: an IANA time zone name, or none given."""
    if value is not None and value not in time_zones():
        raise click.BadParameter("must be an IANA time zone, such as Asia/Shanghai")
    return value


def scope_list(ctx: click.Context, param: click.Parameter, value: str) -> list[Scope]:
    """A click callback: comma-separated token scopes."""
    try:
        return parse_scopes(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@tokens.command("create")
@click.argument("name", callback=text(128))
@click.option(
    "--scopes",
    default=Scope.READ.value,
    show_default=True,
    callback=scope_list,
    help="Comma-separated: read (calls, messages, audio), write (case status, presence, "
    "take-next), metrics (/metrics).",
)
def create_token_command(name: str, scopes: list[Scope]) -> None:
    """Create an API token; it is printed once, on the last line."""
    token = create_token(db.session, name, scopes)
    audit(TOKEN_CREATE, actor=CLI, target=f"token:{name}", detail={"scopes": list(scopes)})
    db.session.commit()
    click.echo(f"Token for {name} (store it now; it is not shown again):")
    click.echo(token)


@tokens.command("revoke")
@click.argument("name", callback=text(128))
def revoke_token_command(name: str) -> None:
    """Revoke every token with this name."""
    count = revoke_token(db.session, name)
    if count:
        audit(TOKEN_REVOKE, actor=CLI, target=f"token:{name}", detail={"count": count})
    db.session.commit()
    click.echo(f"revoked {count} token(s) named {name}")


@orders.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_orders_command(path: Path) -> None:
    """Load order statuses from a CSV file (order_number,status[,carrier,eta]); all or nothing."""
    try:
        statuses = hotline().menu.order_statuses
        added, updated = import_orders(db.session, read_orders_csv(path), statuses)
    except (OrderImportError, UnicodeDecodeError) as exc:
        db.session.rollback()
        raise click.ClickException(f"{path}: {exc}") from None
    db.session.commit()
    click.echo(f"{added} order(s) added, {updated} updated")


def _words(value: str) -> list[str]:
    return list(dict.fromkeys(word.strip() for word in value.split(",") if word.strip()))


@agents.command("create")
@click.argument("name", callback=text(64))
@click.option(
    "--password", required=True, callback=text(256), help="At least 8 characters; stored hashed."
)
@click.option("--admin", is_flag=True, help="A supervisor: may change menus, tokens, agents.")
@click.option(
    "--phone",
    default="",
    callback=text(64),
    help="E.164 number the agent is called on, e.g. +8613900000001.",
)
@list_option("--languages", "zh", "zh,en")
@list_option("--topics", "general", "product,payment")
@click.option(
    "--timezone",
    default=None,
    callback=time_zone,
    help="Times on pages (default: HOTLINE_TIMEZONE, the call centre's).",
)
def create_agent_command(
    name: str,
    password: str,
    admin: bool,
    phone: str,
    languages: str,
    topics: str,
    timezone: str | None,
) -> None:
    """Create an agent account."""
    try:
        check_profile(hotline().menu, languages=_words(languages), topics=_words(topics),
                      phone=phone)  # fmt: skip
        agent = create_agent(
            db.session,
            name,
            password=password,
            role=Role.SUPERVISOR if admin else Role.AGENT,
            phone=phone,
            languages=_words(languages),
            topics=_words(topics),
        )
    except AgentError as exc:
        raise click.ClickException(str(exc)) from None
    if timezone is not None:
        agent.timezone = timezone
    audit(AGENT_CREATE, actor=CLI, target=f"agent:{agent.name}", detail={"role": agent.role})
    db.session.commit()
    click.echo(f"agent {agent.name} ({agent.role}) created: {', '.join(agent.languages)}; "
               f"{', '.join(agent.topics)}")  # fmt: skip


@agents.command("presence")
@click.argument("name", callback=text(64))
@click.argument("state", type=click.Choice([p.value for p in Presence]))
def presence_command(name: str, state: str) -> None:
    """Set an agent available, busy or away."""
    try:
        agent = active_agent(find_agent(db.session, name))
    except AgentError as exc:
        raise click.ClickException(str(exc)) from None
    set_presence(agent, Presence(state))
    db.session.commit()
    click.echo(f"{agent.name} is {agent.presence}")


def _named(name: str) -> Agent:
    try:
        return find_agent(db.session, name)
    except AgentError as exc:
        raise click.ClickException(str(exc)) from None


@agents.command("list")
def list_agents_command() -> None:
    """Every agent: role, state, presence, languages, topics, phone."""
    for agent in db.session.scalars(select(Agent).order_by(Agent.name)):
        state = "disabled" if agent.disabled_at is not None else "active"
        click.echo(f"{agent.name}\t{agent.role}\t{state}\t{agent.presence}\t"
                   f"{','.join(agent.languages)}\t{','.join(agent.topics)}\t{agent.phone or '-'}")  # fmt: skip


@agents.command("disable")
@click.argument("name", callback=text(64))
def disable_command(name: str) -> None:
    """Switch an agent off: away, signed out everywhere, offered no caller, refused sign-in."""
    agent = _named(name)
    disable_agent(agent)
    audit(AGENT_DISABLE, actor="cli", target=f"agent:{agent.name}")
    db.session.commit()
    click.echo(f"{agent.name} is disabled")


@agents.command("enable")
@click.argument("name", callback=text(64))
def enable_command(name: str) -> None:
    """Let a disabled agent sign in again (they start away)."""
    agent = _named(name)
    enable_agent(agent)
    audit(AGENT_ENABLE, actor="cli", target=f"agent:{agent.name}")
    db.session.commit()
    click.echo(f"{agent.name} is enabled")


@agents.command("password")
@click.argument("name", callback=text(64))
@click.option(
    "--password",
    prompt="New password",
    hide_input=True,
    confirmation_prompt=True,
    callback=text(256),
    help="At least 8 characters (asked for when not given); the agent's sessions end.",
)
def password_command(name: str, password: str) -> None:
    """Set a new password for an agent; every session they have ends."""
    agent = _named(name)
    try:
        set_password(agent, password)
    except AgentError as exc:
        raise click.ClickException(str(exc)) from None
    signed_out(agent)
    audit(PASSWORD_RESET, actor="cli", target=f"agent:{agent.name}")
    db.session.commit()
    click.echo(f"{agent.name} has a new password; their sessions have ended")


@agents.command("update")
@click.argument("name", callback=text(64))
@click.option("--languages", default=None, callback=text(256), help="Comma-separated, e.g. zh,en")
@click.option(
    "--topics", default=None, callback=text(256), help="Comma-separated, e.g. product,payment"
)
@click.option("--phone", default=None, callback=text(64), help="E.164, e.g. +8613900000001.")
def update_command(name: str, languages: str | None, topics: str | None, phone: str | None) -> None:
    """Change what an agent answers (languages, topics) and the phone they are called on."""
    agent = _named(name)
    try:
        update_profile(
            agent,
            hotline().menu,
            languages=None if languages is None else _words(languages),
            topics=None if topics is None else _words(topics),
            phone=phone,
        )
    except AgentError as exc:
        raise click.ClickException(str(exc)) from None
    audit(AGENT_UPDATE, actor="cli", target=f"agent:{agent.name}", detail=profile_of(agent))
    db.session.commit()
    click.echo(f"{agent.name}: {', '.join(agent.languages)}; {', '.join(agent.topics)}; "
               f"{agent.phone or 'no phone'}")  # fmt: skip


@agents.command("take-next")
@click.argument("name", callback=text(64))
def take_next_command(name: str) -> None:
    """Call the agent and connect them to the caller who has waited longest."""
    from flask import current_app

    from ivr.twilio.urls import external_url

    try:
        agent = find_agent(db.session, name)
        with current_app.test_request_context():
            offer = take_next(db.session, agent, current_app.config, external_url)
    except (AgentError, TwilioError) as exc:
        raise click.ClickException(str(exc)) from None
    if offer is None:
        click.echo("nobody is waiting")
    else:
        kind = "callback" if offer.callback else "caller"
        click.echo(f"{kind} {offer.call_sid} from {offer.queue}, waited {offer.waited} s")
