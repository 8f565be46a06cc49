"""`alismon stack up|down|status|break`: the compose topology from local binaries, without Docker.

`up` renders the provisioning tree for loopback into <run-dir>/tree, checks every port, starts each
component detached (its own session, a log under <run-dir>/logs), waits until each is healthy, and
records PIDs in <run-dir>/state.json. `down` stops exactly what that file names; `status` shows each
component's health and URL. With --foreground, `up` stays attached and Ctrl-C stops everything.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import psutil
import requests
import yaml

from exporters.config import Config, parse_config
from exporters.core.signals import StopOnSignal
from exporters.core.tools import ToolMissing
from exporters.demo.business import BREAKABLE_VERIFIER, BROKEN_FAILURE_RATIO, USUAL_FAILURE_RATIO
from exporters.render.main import render_all, write
from exporters.render.versions import unsupported
from exporters.stack.procs import ManagedProcess, port_in_use
from exporters.stack.started import Started, load, save
from exporters.stack.topology import (
    AGENT_NAME,
    Component,
    components,
    effective_config,
    exporter_listen_address,
    exporters_to_start,
    loopback,
    pid_file,
)
from exporters.stack.versions import installed_builds, installed_versions

READY_TIMEOUT = 45.0
DEMO_EVENT_TYPES = {"claims", "verifications", "node_events"}
STOP_TIMEOUT = 10.0


def _listen_addresses(config: Config, demo: bool) -> dict[str, str]:
    """Component -> the address it will listen on, for what `up` starts with this (effective) config."""
    out = {row.service: exporter_listen_address(config, row) for row in exporters_to_start(config)}
    out["alertmanager"] = config.stack.alertmanager_listen_address
    out["prometheus"] = config.prometheus.listen_address
    if config.prometheus.scale_out.store == "victoriametrics":
        out["victoriametrics"] = config.stack.victoriametrics_listen_address
        out["vmalert"] = config.stack.vmalert_listen_address
    if demo:
        out["anvil"] = config.stack.demo_chain_listen_address
        out["inbox"] = config.stack.demo_inbox_listen_address
        out["inbox smtp"] = config.stack.demo_smtp_listen_address
    return out


def _healthy(c: Started | Component) -> bool:
    if not c.ready_url:
        return True  # a worker without an endpoint: alive is healthy
    try:
        if c.rpc:
            payload = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
            return requests.post(c.ready_url, json=payload, timeout=2).ok
        return requests.get(c.ready_url, timeout=2).ok
    except requests.RequestException:
        return False


def _running(run: Path) -> list[Started]:
    _, started = load(run)
    return [s for s in started if s.process() is not None]


def up(config: Config, run_dir: Path, demo: bool, foreground: bool) -> int:
    run = run_dir.resolve()
    if _running(run):
        print(f"error: the stack in {run} is already running; `alismon stack status` or `alismon stack down`",
              file=sys.stderr)  # fmt: skip
        return 1
    for sub in ("logs", "data", "tree", "pids"):
        (run / sub).mkdir(parents=True, exist_ok=True)
    run.chmod(0o700)  # the ingest token and the effective config live here
    builds = installed_builds()
    raw = effective_config(config, run, demo, builds)
    effective = parse_config(raw)
    too_old = unsupported(effective, installed_versions(builds), "the installed")
    if too_old:
        for problem in too_old:
            print(f"error: {problem}", file=sys.stderr)
        return 1
    taken = [f"{name} {ad}" for name, ad in _listen_addresses(effective, demo).items() if port_in_use(*loopback(ad))]
    if taken:
        print(f"error: port already in use: {', '.join(taken)}; stop what holds it or change config.yml",
              file=sys.stderr)  # fmt: skip
        return 1
    missing = sorted(DEMO_EVENT_TYPES - set(config.business.events)) if demo else []
    if missing:
        print(f"error: the demo posts {', '.join(sorted(DEMO_EVENT_TYPES))} events, but business.events in the config "
              f"lacks {', '.join(missing)} (config.yml ships them)", file=sys.stderr)  # fmt: skip
        return 1
    config_file = run / "config.yml"
    config_file.write_text(yaml.safe_dump(raw, sort_keys=False))
    config_file.chmod(0o600)
    write(render_all(effective), run / "tree")
    (run / "demo-control.json").unlink(missing_ok=True)
    try:
        plan = components(effective, run, config_file, demo)
    except ToolMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    started: list[Started] = []
    for c in plan:
        log = run / "logs" / f"{c.name}.log"
        proc = ManagedProcess(c.name, c.argv, log, env=c.env).start()
        created = psutil.Process(proc.pid).create_time()
        started.append(Started(c.name, proc.pid, created, c.argv, c.url, c.ready_url, c.rpc, str(log)))
        save(run, demo, started)
        pid_file(run, c.name).write_text(f"{proc.pid}\n")
        waited = time.monotonic()
        if not _wait_healthy(c, proc):
            waited = time.monotonic() - waited
            if proc.running():
                print(f"error: {c.name} did not become healthy within {READY_TIMEOUT:.0f}s; its log:", file=sys.stderr)
            else:
                code = proc.proc.returncode if proc.proc else "?"
                print(
                    f"error: {c.name} exited with code {code} after {waited:.1f}s; the end of {log}:", file=sys.stderr
                )
            print(proc.log_tail(), file=sys.stderr)
            _stop(run, started)
            return 1
    _print_urls(run, started, demo, effective)
    if not foreground:
        return 0
    return _wait_for_ctrl_c(run, started)


def _wait_healthy(c: Component, proc: ManagedProcess) -> bool:
    deadline = time.monotonic() + READY_TIMEOUT
    settle = time.monotonic() + 1.0  # a worker must survive its first second
    while time.monotonic() < deadline:
        if not proc.running():
            return False
        if _healthy(c) and (c.ready_url or time.monotonic() > settle):
            return True
        time.sleep(0.1)
    return False


def alismon_command() -> str:
    """`alismon` as the user can run it: the console script beside this interpreter, unless it is on PATH."""
    beside = Path(sys.executable).parent / "alismon"
    on_path = shutil.which("alismon")
    if on_path and Path(on_path).resolve() == beside.resolve():
        return "alismon"
    return os.path.relpath(beside) if beside.exists() else "alismon"


def _print_urls(run: Path, started: list[Started], demo: bool, config: Config) -> None:
    """Pages that exist on the installed builds (`effective_config` chose the UI flavour)."""
    print("AlisChain Monitoring native stack is up:")
    for s in started:
        if s.url:
            print(f"  {s.name:<20} {s.url}")
    prom = config.alerting.prometheus_url.rstrip("/")
    print(f"  {'targets':<20} {config.alerting.prometheus_page('targets')}")
    print(f"  {'alerts':<20} {config.alerting.prometheus_page('alerts')}")
    if not config.alerting.alertmanager_ui:
        print(
            f"  {'':<20} (this Alertmanager has no web UI; its API: {config.alerting.alertmanager_url}/api/v2/alerts)"
        )
    print(f"  {'logs':<20} {run / 'logs'}")
    if demo:
        print("Demo traffic is running: chain transfers and registry calls, claims, verifications, node events.")
        inbox = next(s.url for s in started if s.name == "inbox")
        print(f"Slack and email notifications land in the demo inbox: {inbox}")
        print("Make an alert fire: ./scripts/demo --break chain|business|host")
    print("Grafana is not packaged for Debian, so the native stack has none: run the compose stack (compose/README.md)")
    print("for dashboards, import dashboards/*.json into a Grafana of your own, or take static snapshots of them:")
    print(f"  {alismon_command()} snapshot --prometheus {prom} --out {run / 'snapshots'}")
    if demo:
        print("Stop with `./scripts/demo --down`; health with `./scripts/demo --status`.")
    else:
        print(f"Stop with `{alismon_command()} stack down`; health with `{alismon_command()} stack status`.")
    sys.stdout.flush()


def _wait_for_ctrl_c(run: Path, started: list[Started]) -> int:
    stop = StopOnSignal()
    print("Press Ctrl-C to stop.")
    sys.stdout.flush()
    code = 0
    while not stop.requested:
        dead = [s.name for s in started if s.process() is None]
        if dead:
            print(f"error: {', '.join(dead)} exited; see {run / 'logs'}", file=sys.stderr)
            code = 1
            break
        time.sleep(0.5)
    _stop(run, started)
    print("stack stopped")
    return code


def _stop(run: Path, started: list[Started]) -> list[str]:
    """SIGTERM in reverse start order, SIGKILL after STOP_TIMEOUT; only the processes we started."""
    stopped = []
    for s in reversed(started):
        proc = s.process()
        if proc is None:
            continue
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT)
        except psutil.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        stopped.append(f"{s.name} ({s.pid})")
    (run / "state.json").unlink(missing_ok=True)
    return stopped


def down(run_dir: Path) -> int:
    run = run_dir.resolve()
    _, started = load(run)
    if not started:
        print(f"nothing to stop: no stack recorded in {run}")
        return 0
    stopped = _stop(run, started)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was still running"))
    return 0


def status(run_dir: Path) -> int:
    run = run_dir.resolve()
    _, started = load(run)
    if not started:
        print(f"the stack is not running (no {run / 'state.json'})")
        return 3
    bad = 0
    print(f"{'component':<20} {'pid':>7}  {'state':<8} {'health':<8} url")
    for s in started:
        alive = s.process() is not None
        healthy = alive and _healthy(s)
        bad += not healthy
        state = "running" if alive else "exited"
        health = ("ok" if healthy else "failing") if alive else "-"
        print(f"{s.name:<20} {s.pid:>7}  {state:<8} {health:<8} {s.url or '(worker, no endpoint)'}")
    return 1 if bad else 0


BREAKS = {
    "chain": (
        "stops the demo chain (anvil, the chain-client process): WatchedProcessDown (chain-client) pages; "
        "BlockchainChainDown fires too, held back under it"
    ),
    "business": f"makes {BROKEN_FAILURE_RATIO:.0%} of {BREAKABLE_VERIFIER} verifications fail (a broken verifier): "
    "HighFailureRate fires",
    "host": "kills the node agent the system exporter watches: WatchedProcessDown fires",
}
FIXES = {
    "chain": "started the demo chain (anvil) again, from the state it saved",
    "business": f"{BREAKABLE_VERIFIER} verifications fail at the usual {USUAL_FAILURE_RATIO:.0%} again",
    "host": "started the node agent again",
}
VICTIMS = {"chain": "anvil", "host": AGENT_NAME}


def _demo_state(run: Path) -> list[Started] | None:
    demo, started = load(run)
    if not started or not demo:
        print("error: --break and --fix need the demo stack: ./scripts/demo (alismon stack up --demo)", file=sys.stderr)
        return None
    return started


def break_(run_dir: Path, what: str) -> int:
    run = run_dir.resolve()
    started = _demo_state(run)
    if started is None:
        return 1
    by_name = {s.name: s for s in started}
    if what == "business":
        (run / "demo-control.json").write_text(json.dumps({"verification_failure_ratio": BROKEN_FAILURE_RATIO}))
    else:
        victim = by_name[VICTIMS[what]]
        proc = victim.process()
        if proc is None:
            print(f"{victim.name} is already stopped")
        else:
            proc.terminate()
            proc.wait(STOP_TIMEOUT)
    print(f"broke {what}: {BREAKS[what]}.")
    print(f"Watch its notification arrive (within about two minutes): {by_name['inbox'].url}")
    print(f"Undo it in place: ./scripts/demo --fix {what}")
    return 0


def fix(run_dir: Path, what: str) -> int:
    """Undo a break in place: restart the stopped process with its recorded command line, or reset the traffic."""
    run = run_dir.resolve()
    started = _demo_state(run)
    if started is None:
        return 1
    if what == "business":
        (run / "demo-control.json").unlink(missing_ok=True)
    else:
        i = next(i for i, s in enumerate(started) if s.name == VICTIMS[what])
        victim = started[i]
        if victim.process() is not None:
            print(f"{victim.name} is already running")
        else:
            proc = ManagedProcess(victim.name, victim.argv, Path(victim.log)).start()
            created = psutil.Process(proc.pid).create_time()
            started[i] = replace(victim, pid=proc.pid, create_time=created)
            save(run, True, started)
            pid_file(run, victim.name).write_text(f"{proc.pid}\n")
            deadline = time.monotonic() + READY_TIMEOUT
            while not _healthy(started[i]):
                if not proc.running() or time.monotonic() > deadline:
                    print(f"error: {victim.name} did not come back; the end of {victim.log}:", file=sys.stderr)
                    print(proc.log_tail(), file=sys.stderr)
                    return 1
                time.sleep(0.1)
    inbox = next(s.url for s in started if s.name == "inbox")
    print(f"fixed {what}: {FIXES[what]}.")
    print(f"The resolved notice follows in the inbox (within about two minutes): {inbox}")
    return 0
