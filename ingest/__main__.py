"""`python -m ingest …` is `verirag ingest …`."""

import logging

import typer

from ingest.cli import ingest_command


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    typer.run(ingest_command)


if __name__ == "__main__":
    main()
