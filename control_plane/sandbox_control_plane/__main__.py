"""``sandbox-control-plane serve | migrate | openapi`` (also ``python -m sandbox_control_plane``)."""

from __future__ import annotations

import argparse
import json
import sys

import uvloop

from sandbox_control_plane.config.settings import Settings


def openapi_document() -> dict[str, object]:
    from sandbox_control_plane.api.app import create_app

    return create_app(Settings()).openapi()


def openapi_text() -> str:
    return json.dumps(openapi_document(), indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sandbox-control-plane", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the API (settings from SBX_CP_* variables)")
    commands.add_parser("migrate", help="bring the database schema to the newest migration")
    commands.add_parser("openapi", help="print the public API's OpenAPI document")
    args = parser.parse_args(argv)

    if args.command == "openapi":
        sys.stdout.write(openapi_text())
        return 0
    settings = Settings()
    if args.command == "migrate":
        from sandbox_control_plane.db.migrate import upgrade

        upgrade(settings)
        return 0
    from sandbox_control_plane.server import serve

    uvloop.run(serve(settings))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
