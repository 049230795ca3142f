"""`careloop create-user`, `create-token` and `users ...`: staff accounts."""

from __future__ import annotations

import getpass
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

from app.cli.common import cli_actor, fail, load_settings, open_session
from careloop.errors import AppError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session


users_app = typer.Typer(
    help="Staff accounts: list, disable, enable, change role, reset password.",
    no_args_is_help=True,
)


def create_user_cmd(
    email: Annotated[str, typer.Option(help="Login email.")],
    role: Annotated[str, typer.Option(help="agent, marketer or admin.")],
    name: Annotated[str | None, typer.Option(help="Display name.")] = None,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    max_concurrent: Annotated[int, typer.Option(min=1, help="Agent capacity.")] = 5,
) -> None:
    """Create a staff account (the password is prompted for, or read with --password-stdin)."""
    from crm.db import create_db_engine, create_session_factory, session_scope
    from crm.models import Role
    from crm.users.service import create_user

    settings = load_settings()
    try:
        role_value = Role(role)
    except ValueError:
        raise fail(f"unknown role {role!r}; use agent, marketer or admin") from None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass("password: ")
        if getpass.getpass("repeat: ") != password:
            raise fail("passwords do not match")
    engine = create_db_engine(settings.effective_database_url)
    try:
        with session_scope(create_session_factory(engine)) as session:
            user = create_user(
                session,
                email=email,
                password=password,
                role=role_value,
                display_name=name,
                max_concurrent=max_concurrent,
                by=cli_actor(),
            )
            typer.echo(f"created {user.role.value} {user.email} (id {user.id})")
    except AppError as exc:
        raise fail(exc.message) from None
    finally:
        engine.dispose()


def _find_user(session: Session, who: str) -> Any:
    """A user by email or numeric id."""
    from crm.users.service import find_user_by_email, get_user

    if who.isdigit():
        return get_user(session, int(who))
    user = find_user_by_email(session, who.strip())
    if user is None:
        raise fail(f"no user with email {who}")
    return user


UserArg = Annotated[str, typer.Argument(help="The user's email (or id).")]


@users_app.command("list")
def users_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Every staff account: id, email, role, active or disabled, last sign-in."""
    from crm.users.schemas import UserRead
    from crm.users.service import list_users

    with open_session(load_settings()) as session:
        for user in list_users(session):
            if as_json:
                typer.echo(UserRead.model_validate(user).model_dump_json())
                continue
            state = "active" if user.is_active else "disabled"
            if user.password_change_required:
                state += ", must change password"
            last = user.last_login_at.strftime("%Y-%m-%d %H:%M") if user.last_login_at else "never"
            typer.echo(
                f"{user.id:>5}  {user.email:<32} {user.role.value:<9} {state:<30} "
                f"last sign-in {last}"
            )


@users_app.command("disable")
def users_disable(email: UserArg) -> None:
    """Disable an account: its sessions end at once, its API tokens stop working."""
    from crm.users.service import set_active

    with open_session(load_settings()) as session:
        user = set_active(session, user=_find_user(session, email), active=False, by=cli_actor())
        typer.echo(f"disabled {user.email}")


@users_app.command("enable")
def users_enable(email: UserArg) -> None:
    """Enable a disabled account again."""
    from crm.users.service import set_active

    with open_session(load_settings()) as session:
        user = set_active(session, user=_find_user(session, email), active=True, by=cli_actor())
        typer.echo(f"enabled {user.email}")


@users_app.command("set-role")
def users_set_role(
    email: UserArg,
    role: Annotated[str, typer.Argument(help="agent, marketer or admin.")],
) -> None:
    """Change a user's role (the last active admin keeps theirs)."""
    from crm.models import Role
    from crm.users.service import update_user

    try:
        role_value = Role(role)
    except ValueError:
        raise fail(f"unknown role {role!r}; use agent, marketer or admin", 2) from None
    with open_session(load_settings()) as session:
        user = update_user(
            session, user=_find_user(session, email), by=cli_actor(), role=role_value
        )
        typer.echo(f"{user.email} is now {user.role.value}")


@users_app.command("reset-password")
def users_reset_password(
    email: UserArg,
    interactive: Annotated[
        bool, typer.Option("--interactive", help="Type the new password instead.")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the new password from standard input.")
    ] = False,
) -> None:
    """Reset a password: prints a one-time password (or takes one with --interactive /
    --password-stdin); the user's sessions end and they must choose their own password at
    the next sign-in."""
    from crm.users.service import reset_password

    password = None
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    elif interactive:
        password = getpass.getpass("new password: ")
        if getpass.getpass("repeat: ") != password:
            raise fail("passwords do not match")
    with open_session(load_settings()) as session:
        user = _find_user(session, email)
        generated = reset_password(session, user=user, by=cli_actor(), password=password)
    if generated is not None:
        typer.echo(f"one-time password for {user.email}: {generated}")
    else:
        typer.echo(f"password of {user.email} reset")
    typer.echo("their sessions ended; they must choose a new password when they sign in")


def create_token_cmd(
    email: Annotated[str, typer.Option(help="The staff user the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for (e.g. 'helpdesk sync').")],
) -> None:
    """Create an API token (printed once; send it as `Authorization: Bearer <token>`)."""
    from crm.db import create_db_engine, create_session_factory, session_scope
    from crm.users.service import create_api_token, find_user_by_email

    settings = load_settings()
    engine = create_db_engine(settings.effective_database_url)
    try:
        with session_scope(create_session_factory(engine)) as session:
            user = find_user_by_email(session, email)
            if user is None:
                raise fail(f"no user with email {email}")
            plain, token = create_api_token(session, user=user, name=name)
            typer.echo(f"token {token.id} for {user.email} ({user.role.value}): {plain}")
    except AppError as exc:
        raise fail(exc.message) from None
    finally:
        engine.dispose()
