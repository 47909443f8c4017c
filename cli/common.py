"""What every `verirag` command shares: reading the settings, and ending with an error or a usage error."""

from __future__ import annotations

import typer

from rag.settings import Settings


def load_settings() -> Settings:
    """Settings errors (a bad VERIRAG_* value or verirag.toml) end the command with their message."""
    from pydantic import ValidationError

    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'settings'}: {e['msg']}" for e in error.errors()
        )
        fail(f"invalid configuration: {problems}")
        raise  # unreachable: fail exits


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def usage_error(message: str, option: str | None = None) -> None:
    """Bad command-line usage (an option's value, an unknown name): exit 2 with the usage line, before
    anything slow is loaded. ``option`` ("--fusion") is named in the message."""
    raise typer.BadParameter(message, param_hint=f"'{option}'" if option else None)


def did_you_mean(name: str, known: list[str]) -> str:
    """' (did you mean 'x'?)' when ``name`` looks like a misspelling of one of ``known``, else ''."""
    import difflib

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
