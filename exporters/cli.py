"""`alismon`: run an exporter, check the config, run the native stack.

Flags follow the Prometheus ecosystem (`--config.file`, `--web.listen-address`, ...). Any
configuration problem prints `path: problem` lines on stderr and exits 2, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import get_args

from exporters import __version__
from exporters.config import DEFAULT_CONFIG_FILE, Config, load_config
from exporters.core.errors import ConfigError
from exporters.core.exporter_table import EXPORTER_NAMES, EXPORTERS, ExporterRow, exporter_row
from exporters.core.logs import LEVELS, LogFormat, setup_logging
from exporters.core.types import parse_listen_address
from exporters.core.webconfig import load_web_config

EXIT_CONFIG = 2
log = logging.getLogger("alismon")


def _listen_address(value: str) -> str:
    try:
        return parse_listen_address(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_config_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config.file",
        dest="config_file",
        default=DEFAULT_CONFIG_FILE,
        help="path to the config file (default: %(default)s)",
    )


def _add_exporter_flags(p: argparse.ArgumentParser, row: ExporterRow) -> None:
    """The flags every exporter has; its own come from its class's add_arguments()."""
    _add_config_flag(p)
    p.add_argument(
        "--web.listen-address",
        dest="listen_address",
        type=_listen_address,
        help=f"address to listen on (default: exporters.{row.name}.listen_address from the config)",
    )
    p.add_argument(
        "--web.config.file",
        dest="web_config_file",
        help="exporter-toolkit web config file enabling TLS and/or basic auth",
    )
    p.add_argument(
        "--web.enable-exporter-metrics",
        dest="runtime_metrics",
        action="store_true",
        help="also expose the Python process, platform and gc metrics of the exporter itself",
    )
    _add_log_flags(p)


def _add_log_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--log.level", dest="log_level", choices=LEVELS, default="info")
    p.add_argument("--log.format", dest="log_format", choices=get_args(LogFormat), default="logfmt")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alismon", description="AlisChain Monitoring exporters and tooling.")
    parser.add_argument("--version", action="version", version=f"alismon {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    for row in EXPORTERS:
        exporter = sub.add_parser(row.name, help=f"{row.summary} (default port {row.port})")
        _add_exporter_flags(exporter, row)
        row.load().add_arguments(exporter)

    config = sub.add_parser("config", help="work with the config file")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="SUBCOMMAND")
    check = config_sub.add_parser("check", help="validate the config file; exit 2 with key paths on problems")
    _add_config_flag(check)
    check.add_argument("--root", default=".", help="the repository root (default: %(default)s)")
    check.add_argument(
        "--target",
        choices=("compose", "native"),
        default="compose",
        help="check features against compose's pinned images or the installed binaries (default: %(default)s)",
    )
    check.add_argument(
        "--skip-secret-files",
        action="store_true",
        help="do not require the *_file secrets to exist here (they live on the host that runs the stack)",
    )

    render = sub.add_parser("render", help="write rules (and more) from templates and the config")
    _add_config_flag(render)
    render.add_argument("--check", action="store_true", help="write nothing; exit 1 if a generated file is stale")
    render.add_argument("--root", default=".", help="the tree to write or check (default: %(default)s)")
    render.add_argument("--out", help="the same as --root: write (or check) the generated tree here")

    lint = sub.add_parser("lint", help="run every check a user's CI needs: promtool rules checks and tests")
    _add_config_flag(lint)
    lint.add_argument("--root", default=".", help="the repository root (default: %(default)s)")
    lint.add_argument(
        "--skip-secret-files",
        action="store_true",
        help="do not require the *_file secrets to exist here (they live on the host that runs the stack)",
    )

    stack = sub.add_parser("stack", help="the native stack (local binaries, no Docker)")
    stack_sub = stack.add_subparsers(dest="stack_command", required=True, metavar="SUBCOMMAND")
    up = stack_sub.add_parser("up", help="start the stack, wait until it is healthy, print the URLs")
    up.add_argument("--demo", action="store_true", help="add a local anvil chain and demo traffic")
    up.add_argument("--foreground", action="store_true", help="stay attached; Ctrl-C stops everything")
    down = stack_sub.add_parser("down", help="stop exactly what `stack up` started")
    status = stack_sub.add_parser("status", help="each component's state, health and URL")
    brk = stack_sub.add_parser("break", help="demo only: cause a real problem so that its alert fires")
    brk.add_argument("what", choices=["chain", "business", "host"])
    fix = stack_sub.add_parser("fix", help="demo only: undo a break in place")
    fix.add_argument("what", choices=["chain", "business", "host"])
    for p in (up, down, status, brk, fix):
        _add_config_flag(p)
        p.add_argument("--run-dir", help="where configs, data, logs and PIDs go (default: stack.run_dir, .run)")

    snap = sub.add_parser("snapshot", help="the dashboards as static HTML pages drawn from a Prometheus")
    _add_config_flag(snap)
    snap.add_argument("--prometheus", help="base URL (default: http:// + prometheus.listen_address)")
    snap.add_argument("--out", default=".run/snapshots", help="where the pages go (default: %(default)s)")
    snap.add_argument("--minutes", type=float, default=15, help="how far back (default: %(default)s)")
    snap.add_argument("--root", default=".", help="the repository root holding dashboards/ (default: %(default)s)")
    snap.add_argument("--png", action="store_true", help="also a full-page PNG of each page (headless chromium)")

    demo = sub.add_parser("demo", help="demo workloads the demo stack runs")
    demo_sub = demo.add_subparsers(dest="demo_command", required=True, metavar="SUBCOMMAND")
    traffic = demo_sub.add_parser("traffic", help="chain transactions and business events until stopped")
    traffic.add_argument("--rpc-url", help="JSON-RPC URL of a dev chain with unlocked accounts (anvil)")
    traffic.add_argument("--business-url", help="base URL of the business exporter")
    traffic.add_argument("--token-file", help="file holding the ingest bearer token")
    traffic.add_argument("--interval", type=float, default=1.0, help="seconds between rounds (default: %(default)s)")
    traffic.add_argument("--duration", type=float, default=0, help="stop after this many seconds (0: never)")
    traffic.add_argument("--control-file", help="JSON file re-read every round: failure ratios")
    traffic.add_argument("--spool", help="keep events here while the business exporter is unreachable")
    traffic.add_argument("--seed", type=int, help="random seed, for repeatable traffic")
    agent = demo_sub.add_parser("agent", help="a node agent that sends heartbeats (watched by the demo)")
    agent.add_argument("--business-url", required=True)
    agent.add_argument("--token-file", required=True)
    agent.add_argument("--name", default="node-agent-1")
    agent.add_argument("--interval", type=float, default=5.0)
    inbox = demo_sub.add_parser("inbox", help="a Slack webhook and SMTP sink on loopback, with a page of what arrived")
    inbox.add_argument(
        "--web.listen-address",
        dest="listen_address",
        type=_listen_address,
        default="127.0.0.1:9097",
        help="page, JSON API and Slack webhook (default: %(default)s)",
    )
    inbox.add_argument(
        "--smtp.listen-address",
        dest="smtp_address",
        type=_listen_address,
        default="127.0.0.1:2525",
        help="SMTP sink (default: %(default)s)",
    )
    for p in (traffic, agent, inbox):
        _add_log_flags(p)
    return parser


def _run_exporter(row: ExporterRow, args: argparse.Namespace, config: Config) -> int:
    from exporters.core.http import serve

    web = load_web_config(args.web_config_file)
    exporter = row.load().from_args(getattr(config, row.section), args)
    if args.runtime_metrics:
        exporter.enable_runtime_metrics()
    listen = getattr(config.exporters, row.name)
    address = args.listen_address or listen.listen_address
    asyncio.run(serve(exporter, address, web, listen.http))
    return 0


def _config_check(args: argparse.Namespace, config: Config) -> int:
    from exporters.render.versions import COMPOSE_VERSIONS, unsupported

    if args.target == "native":
        from exporters.stack.versions import installed_versions

        too_old = unsupported(config, installed_versions(), "the installed")
    else:
        too_old = unsupported(config, COMPOSE_VERSIONS, "compose's")
    for problem in too_old:
        print(f"error: {args.config_file}: {problem}", file=sys.stderr)
    if too_old:
        return EXIT_CONFIG
    failed = False
    if not args.skip_secret_files:
        from exporters.lint.provisioning import config_secret_problems

        problems = config_secret_problems(config.model_dump(mode="json", by_alias=True), Path(args.root))
        for problem in problems:
            print(f"error: {args.config_file}: {problem}", file=sys.stderr)
        if problems:
            print("create them, or pass --skip-secret-files when they live on the host that runs the stack",
                  file=sys.stderr)  # fmt: skip
            failed = True
    # What each exporter checks at start, for the exporters the config gives work: a config that passes starts.
    for row in EXPORTERS:
        exporter = row.load()
        section = getattr(config, row.section)
        if exporter.has_work(section):
            for problem in exporter.start_problems(section):
                print(f"error: {problem}", file=sys.stderr)
                failed = True
    if failed:
        return EXIT_CONFIG
    print(f"{args.config_file}: OK")
    return 0


def _render(args: argparse.Namespace, config: Config) -> int:
    from exporters.render.main import render_all, stale, write

    out = Path(args.out or args.root)
    files = render_all(config)
    if args.check:
        problems = stale(files, out)
        for rel, diff in problems:
            print(f"stale: {rel}", file=sys.stderr)
            print(diff, file=sys.stderr)
        if problems:
            print("run `alismon render` and commit the result", file=sys.stderr)
            return 1
        print(f"{len(files)} generated files are up to date")
        return 0
    changed = write(files, out)
    print(f"wrote {len(changed)} of {len(files)} generated files" + (f": {', '.join(changed)}" if changed else ""))
    return 0


def _stack(args: argparse.Namespace, config: Config) -> int:
    from exporters.stack import runner

    run_dir = Path(args.run_dir) if args.run_dir else config.stack.run_dir
    if args.stack_command == "up":
        return runner.up(config, run_dir, args.demo, args.foreground)
    if args.stack_command == "down":
        return runner.down(run_dir)
    if args.stack_command == "status":
        return runner.status(run_dir)
    if args.stack_command == "fix":
        return runner.fix(run_dir, args.what)
    return runner.break_(run_dir, args.what)


def _snapshot(args: argparse.Namespace, config: Config) -> int:
    from exporters.snapshot.pages import snapshot
    from exporters.snapshot.queries import Prometheus, QueryError
    from exporters.stack.topology import loopback

    host, port = loopback(config.prometheus.listen_address)
    prometheus = Prometheus(args.prometheus or f"http://{host}:{port}")
    try:
        result = snapshot(prometheus, Path(args.root) / "dashboards", Path(args.out), args.minutes,
                          config.prometheus.scrape_interval, bool(config.prometheus.targets.alertmanager))  # fmt: skip
    except QueryError as exc:
        print(f"alismon snapshot: no pages written: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {len(result.pages)} dashboards: {result.index}")
    if args.png and not _screenshots([result.index, *result.pages], Path(args.out)):
        return 1
    if result.failures:
        for failure in result.failures:
            print(f"alismon snapshot: query failed: {failure}", file=sys.stderr)
        print(f"alismon snapshot: {len(result.failures)} queries failed; their panels say so", file=sys.stderr)
        return 1
    return 0


def _screenshots(pages: list[Path], out: Path) -> bool:
    """A PNG next to each page; False (after saying why) on a console error, a blank image or no Chromium."""
    from exporters.core.tools import ToolMissing
    from exporters.snapshot.png import ScreenshotError, distinct_bytes, screenshots

    try:
        shots = screenshots(pages, out)
    except (ToolMissing, ScreenshotError, TimeoutError) as exc:
        print(f"alismon snapshot: no screenshots: {exc or 'chromium timed out'}", file=sys.stderr)
        return False
    ok = True
    for shot in shots:
        for error in shot.console_errors:
            print(f"alismon snapshot: {shot.page.name}: {error}", file=sys.stderr)
            ok = False
        if distinct_bytes(shot.png) < 16:
            print(f"alismon snapshot: {shot.png} is blank", file=sys.stderr)
            ok = False
    print(f"wrote {len(shots)} screenshots: {out}/*.png")
    return ok


def _read_token(path: str | None) -> str | None:
    return Path(path).read_text().strip() if path else None


def _demo(args: argparse.Namespace) -> int:
    if args.demo_command == "inbox":
        from exporters.demo.inbox import run_inbox

        return run_inbox(args.listen_address, args.smtp_address)
    if args.demo_command == "agent":
        from exporters.demo.agent import run_agent

        return run_agent(args.business_url, _read_token(args.token_file) or "", args.name, args.interval)
    from exporters.demo.traffic import run_traffic

    if not (args.rpc_url or args.business_url):
        print("error: give --rpc-url, --business-url or both", file=sys.stderr)
        return EXIT_CONFIG
    return run_traffic(
        args.rpc_url,
        args.business_url,
        _read_token(args.token_file),
        args.interval,
        args.duration,
        Path(args.control_file) if args.control_file else None,
        args.seed,
        Path(args.spool) if args.spool else None,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(getattr(args, "log_level", "info"), getattr(args, "log_format", "logfmt"))
    if args.command == "demo":
        return _demo(args)  # the demo workloads take flags only, no config file
    try:
        config = load_config(args.config_file)
        if args.command == "config":
            return _config_check(args, config)
        if args.command in EXPORTER_NAMES:
            return _run_exporter(exporter_row(args.command), args, config)
        if args.command == "render":
            return _render(args, config)
        if args.command == "lint":
            from exporters.lint.main import run_lint

            return run_lint(config, Path(args.root), args.skip_secret_files)
        if args.command == "stack":
            return _stack(args, config)
        if args.command == "snapshot":
            return _snapshot(args, config)
    except ConfigError as exc:
        for line in exc.problems:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        log.error(str(exc))
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
