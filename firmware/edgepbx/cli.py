"""`edgepbx` command line: run the box, check a config or flow, render prompts, manage API tokens."""
from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from edgepbx import __version__
from edgepbx.api.tokens import NAME, SCOPES, new_token, token_hash
from edgepbx.config import TEMPLATES, Config, ConfigError, load_config
from edgepbx.ivr.flow import FlowInvalid, load_flow
from edgepbx.ivr import variants
from edgepbx.ivr.prompts import PromptCatalogue, PromptsMissing
from edgepbx.store import Store


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgepbx", description="Edge PBX appliance firmware.")
    parser.add_argument("--version", action="version", version=f"edgepbx {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    def with_config(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--config", type=Path, help="config TOML file (default: the embedded default)")
        return p

    with_config(sub.add_parser("run", help="run the box"))
    with_config(sub.add_parser("check", help="validate the config and its flow, then exit"))
    flow = sub.add_parser("flow", help="flow documents").add_subparsers(dest="flow_command", required=True)
    flow.add_parser("validate", help="validate a flow file").add_argument("file", type=Path)
    prompts = sub.add_parser("prompts", help="prompt audio").add_subparsers(dest="prompts_command", required=True)
    render = with_config(prompts.add_parser("render", help="synthesise missing default prompts with espeak-ng"))
    render.add_argument("--all-templates", action="store_true", help="render every built-in template's prompts")
    token = sub.add_parser("token", help="sync API tokens").add_subparsers(dest="token_command", required=True)
    create = with_config(token.add_parser("create", help="create a token and print it (shown only once)"))
    create.add_argument("name")
    create.add_argument("--scope", choices=SCOPES, required=True)
    with_config(token.add_parser("revoke", help="revoke a token by name")).add_argument("name")
    with_config(token.add_parser("list", help="token names and scopes"))
    passwd = with_config(sub.add_parser("passwd", help="set the technician's console password (read from the terminal)"))
    passwd.add_argument("--stdin", action="store_true", help="read the password from standard input (scripts)")
    api = sub.add_parser("api", help="the sync API").add_subparsers(dest="api_command", required=True)
    api.add_parser("openapi", help="print the OpenAPI document (JSON)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "flow":
            flow = load_flow(args.file)
            print(f"{args.file}: valid flow {flow.name!r} v{flow.version}, {len(flow.nodes)} nodes")
            for warning in flow.warnings:
                print(f"warning: {warning}")
            return 0
        if args.command == "api":
            import json
            from edgepbx.api.app import create_app
            print(json.dumps(create_app(None).openapi(), indent=2, ensure_ascii=False))
            return 0
        config = load_config(args.config)
        if args.command == "token":
            return asyncio.run(_token(args, config))
        if args.command == "passwd":
            return asyncio.run(_passwd(args, config))
        if args.command == "check":
            flow = load_flow(config.ivr.flow)
            PromptCatalogue(config.ivr.prompts).check(flow)
            print(f"{config.source}: OK (flow {flow.name} v{flow.version})")
            return 0
        if args.command == "prompts":
            catalogue = PromptCatalogue(config.ivr.prompts)
            names = (TEMPLATES if args.all_templates else (config.ivr.flow,)) + (config.central.outage_flow, "wait", "callback_call", "csat")
            total = sum(catalogue.render(load_flow(name), config.access.level_dbov) for name in names)
            made = variants.refresh(catalogue, config.access)
            print(f"prompts: {total} rendered, {made} elderly/visually-impaired versions made, in {config.ivr.prompts}")
            return 0
        logging.basicConfig(level=config.log.level.upper(), stream=sys.stdout,
                            format="%(asctime)s %(levelname)-5s %(message)s")
        return asyncio.run(_run(config))
    except (ConfigError, FlowInvalid, PromptsMissing) as exc:
        for line in str(exc).splitlines():
            print(f"edgepbx: {line}", file=sys.stderr)
        return 2


async def _token(args: argparse.Namespace, config: Config) -> int:
    store = await Store.open(config.store.path)
    try:
        if args.token_command == "create":
            if not NAME.match(args.name):
                print("edgepbx: token names are 1-64 letters, digits, '_', '.', '@' or '-'", file=sys.stderr)
                return 2
            if any(t["name"] == args.name for t in await store.tokens()):
                print(f"edgepbx: a token named {args.name!r} exists; revoke it first", file=sys.stderr)
                return 2
            token = new_token()
            await store.add_token(args.name, args.scope, token_hash(token))
            print(token)
            print(f"(token {args.name!r}, scope {args.scope}: store it now, the box keeps only its hash)", file=sys.stderr)
        elif args.token_command == "revoke":
            if not await store.revoke_token(args.name):
                print(f"edgepbx: no token named {args.name!r}", file=sys.stderr)
                return 2
            print(f"revoked {args.name}")
        else:
            for t in await store.tokens():
                print(f"{t['name']}\t{t['scope']}")
        return 0
    finally:
        await store.close()


async def _run(config) -> int:  # noqa: ANN001
    import faulthandler
    faulthandler.enable()   # a crash in the call stack leaves every thread's stack in the journal
    from edgepbx.api.server import ApiListenError
    from edgepbx.app import run_box  # imports pjsua2: only when running the box
    from edgepbx.sip.endpoint import SipListenError
    try:
        return await run_box(config)
    except (SipListenError, ApiListenError) as exc:    # a port taken: say which, no traceback
        hint = " (is another edgepbx running?)" if "in use" in str(exc) else ""
        print(f"edgepbx: {exc}{hint}", file=sys.stderr)
        return 1


async def _passwd(args: argparse.Namespace, config: Config) -> int:
    from edgepbx.console.password import hash_password
    if args.stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        import getpass
        password = getpass.getpass("new technician password: ")
        if getpass.getpass("again: ") != password:
            print("edgepbx: the two passwords differ; nothing changed", file=sys.stderr)
            return 2
    try:
        hashed = hash_password(password)
    except ValueError as exc:
        print(f"edgepbx: {exc}; nothing changed", file=sys.stderr)
        return 2
    store = await Store.open(config.store.path)
    try:
        await store.set_setting("console_password", hashed)
        await store.add_audit("cli", "passwd", "ok")
    finally:
        await store.close()
    print("technician password set (only its scrypt hash is stored)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
