"""``rlaif serve`` (the HTTP service over one loaded judge) and ``rlaif keys`` (its API keys)."""

from __future__ import annotations

import argparse
import logging

from pydantic import TypeAdapter

from rlaif.cli.flags import Flag, add_model_args, table
from rlaif.cli.options import add_judge_args, build, judge_spec
from rlaif.cli.recipe import add_config_arg
from rlaif.core.errors import RlaifError


def serve_args(p: argparse.ArgumentParser) -> None:
    from rlaif.jobs.spec import PanelMember
    from rlaif.service.config import ServeConfig

    add_config_arg(p)
    add_model_args(p, ServeConfig, "serve", table=table(p))
    add_judge_args(p)
    # the panel members clients may name: a recipe key only (a mapping of name -> spec, options, ...)
    table(p)["panel"] = Flag("panel", "panel", "serve", "panel", TypeAdapter(dict[str, PanelMember]))


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from rlaif.jobs.pipeline import build_judge
    from rlaif.service import datadir_lock
    from rlaif.service.app import create_app
    from rlaif.service.config import ServeConfig
    from rlaif.service.connections import with_header_timeout

    cfg = build(ServeConfig, args, "serve", judge=judge_spec(args))
    datadir_lock.acquire(cfg.data_dir)  # refuse a second server before loading the judge (the app holds it too)
    app = create_app(cfg, build_judge(cfg.judge))
    svc = app.state.service
    live = sum(k["revoked"] is None for k in svc.keys.list())
    if not cfg.no_auth and not live:
        raise RlaifError(f"no API keys in {cfg.data_dir}: add one with 'rlaif keys add NAME --data-dir "
                         f"{cfg.data_dir}' (or --no-auth on loopback)")
    if svc.members:
        print("rlaif: panel members " + ", ".join(f"{n} ({j.judge_id})" for n, j in svc.members.items()), flush=True)
    print(f"rlaif: serving {svc.judge.judge_id} on http://{cfg.host}:{cfg.port} "
          f"({'no auth' if cfg.no_auth else f'{live} API keys'}; docs at /docs, with a key)", flush=True)
    if svc.jobs.resumed_at_start:
        print(f"rlaif: resuming {svc.jobs.resumed_at_start} job(s) interrupted by the last stop", flush=True)
    access = logging.getLogger("rlaif.access")  # one JSON line per request, on stderr
    access.setLevel(logging.INFO)
    access.propagate = False
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(message)s"))
    access.addHandler(handler)
    uvicorn.run(app, host=cfg.host, port=cfg.port, log_level="info", access_log=False, timeout_graceful_shutdown=30,
                http=with_header_timeout(cfg.header_timeout), timeout_keep_alive=cfg.keep_alive_timeout,
                h11_max_incomplete_event_size=cfg.max_header_bytes, limit_concurrency=cfg.max_connections)
    return 0


def keys_args(p: argparse.ArgumentParser) -> None:
    from rlaif.service.config import ServeConfig

    p.add_argument("action", choices=["add", "list", "revoke"], help="add prints the new key once")
    p.add_argument("name", nargs="?", help="key name (add, revoke)")
    p.add_argument("--role", choices=["owner", "reviewer"], default="owner",
                   help="add: owner (labels, jobs, the UI) or reviewer (only reviews jobs shared with it)")
    p.add_argument("--data-dir", default=ServeConfig.model_fields["data_dir"].default, help="the service's data folder")


def keys(args: argparse.Namespace) -> int:
    from rlaif.service.keys import KeyStore
    from rlaif.service.sessions import SessionStore

    store = KeyStore(f"{args.data_dir}/rlaif.db")
    if args.action != "list" and not args.name:
        raise RlaifError(f"keys {args.action} needs a NAME")
    if args.action == "add":
        print(store.add(args.name, args.role))
    elif args.action == "revoke":
        store.revoke(args.name)  # its UI sessions die with it (checked per request); end them now too
        ended = SessionStore(store.db_path).end_key(args.name)
        print(f"revoked {args.name}" + (f" (ended {ended} UI session{'s' * (ended != 1)})" if ended else ""))
    else:
        for k in store.list():
            print(f"{k['name']:20s} {k['role']:9s} {'revoked' if k['revoked'] else 'live'}")
    return 0
