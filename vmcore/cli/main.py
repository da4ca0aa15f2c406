"""The ``vmcore`` command line: test, check, fmt, plugins, demo."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from vmcore import __version__
from vmcore.cli.argtypes import MAX_DEPTH, MAX_SCHEDULES, MAX_SEED, bounded
from vmcore.errors import VmcoreError

DESCRIPTION = """\
vmcore: a laboratory for GPU virtual-memory management policies.

It models how amdgpu keeps page tables, fences and the SDMA ring consistent while
retry faults, evictions and migrations happen, and checks policies against .vms
scenarios the way pytest checks code against tests.
"""

EPILOG = """\
examples:
  vmcore test                          run every scenario under scenarios/
  vmcore test scenarios/03-fault-path-allocation.vms -k deadlock -v
  vmcore test --policy alloc=evict-lru  run everything under another policy
  vmcore test --explore 200 --strategy pct --depth 3
  vmcore compare scenarios/workloads --policy evict=lru,mru --policy prefetch=none,sequential
  vmcore check my.vms                  parse and validate without running
  vmcore fmt --check scenarios/        is every file in canonical form?
  vmcore plugins                       what is loaded, and what it adds
  eval "$(vmcore completion bash)"     shell completion (also zsh)

exit codes: 0 all passed, 1 some failed, 2 usage or syntax error, 130 interrupted
"""

TEST_HELP = """\
Collect .vms files from PATHS (default: the configured paths, else scenarios/), run each
scenario (each value of a `for` loop is its own id, file::name[value]) and print one line
per id, then `N passed, M failed`. A failure shows the expectation and its line, the end of
the event log of the schedule that decided it, and the command that replays it.
"""


def _pm(args: argparse.Namespace, cfg_plugins: Sequence[str] = ()) -> Any:
    from vmcore.hooks.manager import hook_warnings, load_errors, plugin_manager, split_plugin_args

    mods, blocked = split_plugin_args([*cfg_plugins, *(getattr(args, "plugin", None) or [])])
    pm = plugin_manager(mods, blocked=blocked)
    for msg in load_errors(pm):
        print(f"vmcore: warning: {msg}", file=sys.stderr)
    found = hook_warnings(pm)
    if found and os.environ.get("VMCORE_STRICT_PLUGINS", "") not in ("", "0"):
        raise VmcoreError("; ".join(found) + " (VMCORE_STRICT_PLUGINS is set)")
    for msg in found:
        print(f"vmcore: warning: {msg}", file=sys.stderr)
    return pm


def _test(args: argparse.Namespace) -> int:
    from vmcore.cli.config import load
    from vmcore.cli.report import use_color
    from vmcore.cli.session import Options, Session
    from vmcore.hooks.manager import autoload

    cfg = load()
    opts = Options(
        paths=args.paths or cfg.paths,
        keyword=args.keyword,
        exitfirst=args.exitfirst,
        verbose=args.verbose - args.quiet,
        seed=args.seed if args.seed is not None else cfg.seed,
        policies=[f"{k}={v}" for k, v in cfg.policies.items()] + (args.policy or []),
        plugins=args.plugin or [],
        junitxml=args.junitxml,
        json=args.json,
        durations=args.durations,
        explore=args.explore,
        strategy=args.strategy,
        depth=args.depth,
        replay=args.replay,
        trace=args.trace,
        graph=args.graph,
        processes=_processes(args.numprocesses),
        dask=args.dask,
        rootdir=cfg.root,
        configfile=cfg.source,
        allow_paths=args.allow_path or [],
        autoload=autoload(),
        last_failed=args.last_failed,
        failed_first=args.failed_first,
        color=use_color(args.color, sys.stdout),
    )
    if args.replay:
        rf = _load_replay(args, args.replay)
        opts.replay_file = rf  # read once: the session replays this one
        opts.seed = rf.seed
        opts.policies = rf.policies
    return Session(opts, _pm(args, cfg.plugins)).run()


def _load_replay(args: argparse.Namespace, file: str) -> Any:
    """The replay file ``file``, checked, its plugin modules allowed only by ``-p``."""
    from vmcore.cli.replay import check_plugins, load_replay
    from vmcore.hooks.manager import split_plugin_args

    rf = load_replay(file, args.allow_path or [])
    check_plugins(rf, file, split_plugin_args(args.plugin or [])[0])
    return rf


def _compare(args: argparse.Namespace) -> int:
    from vmcore.cli import compare_cmd

    return compare_cmd.run(args, _pm(args), _processes(args.numprocesses))


def _processes(spec: str | None) -> int:
    if spec is None:
        return 1
    if spec == "auto":
        return os.cpu_count() or 1
    try:
        n = int(spec)
    except ValueError:
        raise VmcoreError(f"-n {spec!r}: expected a number of processes or 'auto'") from None
    if n < 1:
        raise VmcoreError(f"-n {n}: at least one process")
    return n


def _explain(args: argparse.Namespace) -> int:
    from vmcore.cli.session import Options, Session
    from vmcore.engine.witness import ReplayScheduler, explain, steps

    rf = _load_replay(args, args.file)
    session = Session(
        Options(
            paths=[f"{rf.path}::{rf.id.split('::', 1)[1]}"], policies=rf.policies, allow_paths=args.allow_path or []
        ),
        _pm(args),
    )
    items = session.compile()
    if not items:
        for msg in session.errors:
            print(msg, file=sys.stderr)
        return 2
    r = items[0].build(session.pm, session.overrides, scheduler=ReplayScheduler(rf.choices), seed=rf.seed).run()
    print(f"{items[0].id}, schedule of {len(rf.choices)} choices ({len(steps(r))} steps):")
    print(explain(r))
    return 0


def _check(args: argparse.Namespace) -> int:
    from vmcore.cli.files import collect
    from vmcore.dsl.compiler import Compiler
    from vmcore.dsl.errors import VmsError

    comp = Compiler(_pm(args), allow=args.allow_path or [], collect_errors=True)
    assert comp.errors is not None
    bad = 0
    nerrors = 0
    n = 0
    for f in collect(args.files):
        try:
            n += len(comp.compile_path(f))
        except VmsError as e:  # the file as a whole: a syntax error, its gpus and uses
            comp.errors.append(e)
        if comp.errors:
            bad += 1
            nerrors += len(comp.errors)
            for err in comp.errors:
                print(err, file=sys.stderr)
            comp.errors.clear()
    if bad:
        print(f"{nerrors} error(s) in {bad} file(s)", file=sys.stderr)
        return 2
    print(f"{n} scenario(s) valid")
    return 0


def _fmt(args: argparse.Namespace) -> int:
    from vmcore.cli.files import collect, rewrite_in_place
    from vmcore.dsl.errors import VmsError
    from vmcore.dsl.formatter import format_text

    changed = 0
    errors = 0
    for f in collect(args.files):
        try:
            # Why: a file that is not UTF-8 raised UnicodeDecodeError with a traceback; it is
            # an error in that file, reported the way `vmcore check` reports it (exit 2).
            text = Path(f).read_text(encoding="utf-8")
        except UnicodeDecodeError as e:
            errors += 1
            print(
                VmsError(f"the file is not UTF-8 ({e.reason} at byte {e.start})", str(f), 1, 1),
                file=sys.stderr,
            )
            continue
        try:
            out = format_text(text, str(f))
        except VmsError as e:
            errors += 1
            print(e, file=sys.stderr)
            continue
        if out != text:
            changed += 1
            if args.check:
                print(f"would reformat {f}")
            else:
                rewrite_in_place(str(f), out.encode("utf-8"))
                print(f"reformatted {f}")
    if errors:
        return 2
    if args.check and changed:
        return 1
    return 0


def _plugins(args: argparse.Namespace) -> int:
    from vmcore.hooks.manager import distribution_of

    pm = _pm(args)
    adds: dict[int, list[str]] = {}
    for impl in pm.hook.vmcore_policies.get_hookimpls():
        adds[id(impl.plugin)] = [f"{cls.family}={cls.name}" for cls in impl.function() or []]
    rows = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            continue
        dist = distribution_of(pm, name)
        module = (
            plugin
            if hasattr(plugin, "__file__")
            else sys.modules.get(getattr(plugin, "__module__", "") or "")
        )
        rows.append(
            {
                "name": name,
                "distribution": dist[0] if dist else None,
                "version": dist[1] if dist else None,
                "hooks": sorted({h.name for h in pm.get_hookcallers(plugin) or []}),
                "policies": adds.get(id(plugin), []),
                "path": getattr(module, "__file__", None),
            }
        )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    for r in rows:
        ver = f" {r['version']}" if r["version"] else ""
        print(f"{r['name']} ({r['distribution'] or 'module'}{ver})")
        print(f"    hooks: {', '.join(r['hooks']) or 'none'}")
        if r["policies"]:
            print(f"    policies: {', '.join(r['policies'])}")
        if r["path"]:
            print(f"    path: {r['path']}")
    return 0


def _new_plugin(args: argparse.Namespace) -> int:
    from vmcore.cli.scaffold import new_plugin

    path = new_plugin(args.name, args.dir, args.family)
    print(f"created {path}: a {args.family} policy, a scenario and tests")
    print(f"next: pip install -e {path} && python -m pytest {path / 'tests'}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    """A short tour of the C core: page tables, a fence chain, the ring, a pool."""
    from vmcore.core import FenceKind, FenceTable, Invalidate, PageTable, Pool, Pte, Ring

    out = sys.stdout
    va, npages = 0x4000_0000, args.pages
    with Pool(16 << 20, "vram") as vram, PageTable(root_addr=0) as pt:
        made = pt.ensure(va, npages, lambda level, base: vram.block(vram.alloc(4096)).offset)
        pt.map(va, npages, phys=0x10_0000, flags=Pte.READABLE | Pte.WRITEABLE)
        c = pt.counters
        out.write(f"page tables: mapped {npages} pages at {va:#x} using {len(made)} new PD/PT BOs\n")
        out.write(f"  valid PTEs {c.valid_ptes}, resident PD/PT BOs {c.resident_pts}, {c.bytes_used} bytes\n")
        w = pt.walk(va + 5 * 4096 + 0x10, Pte.READABLE)
        out.write(f"  walk {va + 5 * 4096 + 0x10:#x}: {w.reason.name} at {w.level.name} -> {w.phys:#x}\n")
        pt.invalidate(va, 16, Invalidate.SILENT_RETRY)
        out.write(
            f"  after silent-retry invalidation of 16 pages: walk {va:#x} -> {pt.walk(va).reason.name}\n"
        )
        s = vram.stats
        out.write(f"vram pool: {s.free} of {s.size} bytes free, fragmentation {s.fragmentation:.3f}\n")
    with FenceTable() as fences:
        user = fences.create(FenceKind.USER, producer=1, arm=True)
        move = fences.create(FenceKind.KERNEL, producer=2, deps=[user], arm=True)
        out.write(f"fences: a kernel fence after a user job depends on user work: {move.depends_on_user}\n")
    with Ring(64) as ring:
        ring.lock(1)
        ring.reserve(1, 4)
        ring.emit_fence(1, 0x1000, 1)
        ring.commit(1)
        ring.unlock(1)
        p = ring.consume()
        out.write(f"ring: consumed {p.opcode.name if p else 'nothing'}; intact: {ring.check() is None}\n")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vmcore",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vmcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    t = sub.add_parser("test", help="run .vms scenarios like pytest runs tests", description=TEST_HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    t.add_argument("paths", nargs="*", metavar="PATH", help=".vms files or directories (default: scenarios/)")
    t.add_argument(
        "-k", dest="keyword", metavar="EXPR", help="only ids matching EXPR: substrings with and/or/not"
    )
    t.add_argument("-x", "--exitfirst", action="store_true", help="stop after the first failure")
    t.add_argument("-v", "--verbose", action="count", default=0, help="show every expectation's verdict")
    t.add_argument("-q", "--quiet", action="count", default=0, help="only failures and the summary")
    t.add_argument("--seed", type=bounded("--seed", 0, MAX_SEED), default=None, metavar="N",
                   help=f"seed for exploration (default 0; 0..{MAX_SEED})")  # fmt: skip
    t.add_argument("--policy", action="append", metavar="FAMILY=NAME",
                   help="make NAME (optionally NAME(k=v,...)) the active policy of FAMILY; "
                   "a scenario's own policy statement still wins")  # fmt: skip
    t.add_argument("-p", dest="plugin", action="append", metavar="MODULE",
                   help="load a plugin module; -p no:NAME blocks one")  # fmt: skip
    t.add_argument("--junitxml", metavar="FILE", help="write a JUnit XML report (atomically)")
    t.add_argument("--json", metavar="FILE", help="write each id's verdicts and metrics as JSON (atomically)")
    t.add_argument("--durations", type=int, metavar="N", help="show the N slowest scenarios (0: all)")
    t.add_argument("--explore", type=bounded("--explore", 1, MAX_SCHEDULES), metavar="N",
                   help=f"run N schedules of every scenario (1..{MAX_SCHEDULES:,})")  # fmt: skip
    t.add_argument(
        "--strategy", choices=["random", "pct", "dfs"], help="exploration strategy (default random)"
    )
    t.add_argument("--depth", type=bounded("--depth", 0, MAX_DEPTH), metavar="D",
                   help=f"PCT change points or DFS preemption bound (0..{MAX_DEPTH})")  # fmt: skip
    t.add_argument("-n", dest="numprocesses", metavar="N|auto", help="spread scenarios over N processes")
    t.add_argument("--dask", metavar="local|ADDRESS",
                   help="spread scenarios over a dask.distributed cluster (pip install 'vmcore[dask]')")  # fmt: skip
    t.add_argument("--replay", metavar="FILE", help="run the schedule saved in a replay file, exactly")
    t.add_argument("--trace", metavar="OUT.json", help="write a Chrome/Perfetto trace of the runs shown")
    t.add_argument("--graph", metavar="OUT.dot", help="write the wait-for graph (a deadlock cycle in red)")
    t.add_argument("--lf", "--last-failed", dest="last_failed", action="store_true",
                   help="run only the ids that did not pass last time (all when none failed)")  # fmt: skip
    t.add_argument("--ff", "--failed-first", dest="failed_first", action="store_true",
                   help="run the ids that did not pass last time first, then the rest")  # fmt: skip
    t.add_argument("--color", choices=["yes", "no", "auto"], default="auto",
                   help="colour the verdicts: yes, no, or auto (a terminal, unless NO_COLOR is set)")  # fmt: skip
    t.add_argument("--allow-path", action="append", metavar="DIR",
                   help="let use, accesses and replay files read .vms files under DIR too (default: only the project tree)")  # fmt: skip
    t.set_defaults(func=_test)

    from vmcore.cli import compare_cmd

    compare_cmd.add_parser(sub, _compare)

    ex = sub.add_parser("explain", help="tell the schedule in a replay file in prose")
    ex.add_argument("file", metavar="FILE", help="a replay file written by a failing vmcore test")
    ex.add_argument("-p", dest="plugin", action="append", metavar="MODULE",
                    help="load a plugin module (one the replay file names must be given here)")  # fmt: skip
    ex.add_argument("--allow-path", action="append", metavar="DIR", help="let use, accesses and replay files read .vms files under DIR too (default: only the project tree)")
    ex.set_defaults(func=_explain)

    c = sub.add_parser("check", help="parse and validate .vms files without running them")
    c.add_argument("files", nargs="+", metavar="FILE")
    c.add_argument("-p", dest="plugin", action="append", metavar="MODULE", help="load a plugin module")
    c.add_argument("--allow-path", action="append", metavar="DIR", help="let use, accesses and replay files read .vms files under DIR too (default: only the project tree)")
    c.set_defaults(func=_check)

    f = sub.add_parser("fmt", help="format .vms files canonically (comments kept)")
    f.add_argument("files", nargs="+", metavar="FILE")
    f.add_argument("--check", action="store_true", help="only report files that would change (exit 1)")
    f.set_defaults(func=_fmt)

    pl = sub.add_parser("plugins", help="list loaded plugins, their versions, hooks and policies")
    pl.add_argument("--json", action="store_true", help="machine-readable output")
    pl.add_argument("-p", dest="plugin", action="append", metavar="MODULE", help="load a plugin module")
    pl.set_defaults(func=_plugins)

    np = sub.add_parser("new-plugin", help="scaffold a plugin package: a sample policy, a scenario, tests")
    np.add_argument("name", metavar="NAME", help="distribution name, e.g. vmcore-kill-writes")
    np.add_argument("--dir", default=".", metavar="DIR", help="create NAME inside DIR (default: .)")
    np.add_argument("--family", default="fault", metavar="FAMILY",
                    help="the family of the sample policy: fault (default), evict, prefetch, alloc or migration")  # fmt: skip
    np.set_defaults(func=_new_plugin)

    d = sub.add_parser("demo", help="a short tour of the C core", description=_demo.__doc__)
    d.add_argument("--pages", type=int, default=1024, help="pages to map (default 1024)")
    d.set_defaults(func=_demo)

    co = sub.add_parser("completion", help="print a shell completion script",
                        description='Print a completion script: eval "$(vmcore completion bash)" in ~/.bashrc')  # fmt: skip
    co.add_argument("shell", choices=["bash", "zsh"])
    co.set_defaults(func=lambda a: _completion(a, parser))
    return parser


def _completion(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from vmcore.cli.completion import script

    sys.stdout.write(script(parser, args.shell))
    return 0


def _plugin_options(parser: argparse.ArgumentParser, argv: Sequence[str]) -> None:
    """Let plugins add `vmcore test` options (the vmcore_addoption hook) before parsing.

    Plugins come from entry points and `-p MODULE` in argv; a plugin that fails to load
    is reported when the command runs, not here.
    """
    argv = list(argv)
    if "test" not in argv:
        return
    specs = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == "-p"]
    specs += [a[2:] for a in argv if a.startswith("-p") and len(a) > 2]  # -pNAME, as argparse reads it
    from vmcore.hooks.manager import PluginError, plugin_manager, split_plugin_args

    try:
        mods, blocked = split_plugin_args(specs)
        pm = plugin_manager(mods, blocked=blocked)
    except VmcoreError:
        return
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    test = sub.choices["test"]
    group = test.add_argument_group("plugin options")
    for impl in pm.hook.vmcore_addoption.get_hookimpls():
        try:
            impl.function(parser=group)
        except (Exception, SystemExit) as e:  # a plugin's bug is its error, not a traceback
            raise PluginError(
                f"plugin {impl.plugin_name!r}: vmcore_addoption raised {type(e).__name__}: {e}"
            ) from e


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        _plugin_options(parser, sys.argv[1:] if argv is None else argv)
    except VmcoreError as e:
        print(f"vmcore: error: {e}", file=sys.stderr)
        return 2
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return int(e.code or 0)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args))
    except VmcoreError as e:
        print(f"vmcore: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("vmcore: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # Why: `vmcore test | head` closed stdout early and printed a traceback. Point stdout
        # at devnull so the interpreter's final flush does not fail again (Python docs' recipe).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except metadata.PackageNotFoundError as e:  # pragma: no cover - broken installs
        print(f"vmcore: error: {e}", file=sys.stderr)
        return 2
