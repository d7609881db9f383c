"""Mutation testing of the security- and correctness-critical modules, one module group at a time.

    .venv/bin/python scripts/mutation.py [GROUP ...] [--max-children N] [--fresh] [--time-box MIN]

(`scripts/mutation.sh` is the usual entry point.) The groups, their tests and time boxes are in
pyproject.toml under [tool.fatectl.mutation]; the common mutmut settings under [tool.mutmut].

Each group runs in its own copy of the work tree, .mutation/<group>/, whose pyproject.toml names only
that group's files and tests, so mutmut's first (stats) pass runs only those tests and every mutant
only the tests that reached its function. The copy keeps mutmut's cache between runs: a mutant is
re-run when its function changed, and survivors (or mutants a time box cut off) are always re-run.
`--fresh` drops the cache. Hand-written mutants ([[tool.fatectl.mutation.manual]]) come last.

Writes .mutation/summary.md (and prints it): per group the mutants killed, survived, without a
test, the score, the minutes spent, and every survivor with its diff in .mutation/<group>.survivors.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import fnmatch
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / ".mutation"
PYTEST_MARKERS = "not e2e and not slow"
KILLED = {1: "killed", 3: "killed", 37: "killed"}
TIMEOUT = {24, -24, 36, 152, 255}
NO_TESTS = {5, 33}


@dataclass
class Group:
    name: str
    mutate: list[str]
    tests: list[str]
    functions: list[str]
    minutes: float
    # Survivors re-judged in plain pytest processes, not by mutmut's forked workers (which hang in this
    # group's tests: docs/testing.md).
    survivors_without_fork: bool = False


@dataclass
class Outcome:
    name: str
    minutes: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    survivors: list[str] = field(default_factory=list)
    untested: dict[str, int] = field(default_factory=dict)  # function -> mutants no test reached
    survivor_paths: list[tuple[str, str]] = field(default_factory=list)
    note: str = ""

    @property
    def score(self) -> float | None:
        caught = self.counts.get("killed", 0) + self.counts.get("timeout", 0)
        judged = caught + self.counts.get("survived", 0) + self.counts.get("no tests", 0)
        return caught / judged if judged else None


def load_config() -> tuple[dict[str, Any], list[Group], list[dict[str, Any]]]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    base = data["tool"]["mutmut"]
    section = data["tool"]["fatectl"]["mutation"]
    groups = [
        Group(
            name,
            g["mutate"],
            g["tests"],
            g.get("functions", []),
            float(g.get("minutes", 5)),
            bool(g.get("survivors_without_fork", False)),
        )
        for name, g in section["groups"].items()
    ]
    return base, groups, section.get("manual", [])


def sync_tree(dst: Path) -> None:
    """Copy the work tree's files (tracked and untracked, not ignored) into dst, keeping mtimes."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=REPO, check=True, capture_output=True
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src, out = REPO / rel, dst / rel
        if not src.is_file():
            continue
        st = src.stat()
        if out.exists() and out.stat().st_mtime_ns == st.st_mtime_ns and out.stat().st_size == st.st_size:
            continue
        out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, out)


def toml_list(values: list[str]) -> str:
    return json.dumps(values)


def group_pyproject(text: str, base: dict[str, Any], group: Group) -> str:
    """The repo's pyproject.toml with [tool.mutmut] narrowed to one group."""
    lines = [
        "[tool.mutmut]",
        f"source_paths = {toml_list(base['source_paths'])}",
        f"only_mutate = {toml_list(group.mutate)}",
        f"also_copy = {toml_list(base.get('also_copy', []))}",
        f"pytest_add_cli_args = {toml_list(base.get('pytest_add_cli_args', []))}",
        f"pytest_add_cli_args_test_selection = {toml_list(group.tests)}",
        "",
    ]
    start = text.index("[tool.mutmut]")
    nxt = re.search(r"^\[", text[start + 1 :], flags=re.M)
    end = start + 1 + nxt.start() if nxt else len(text)
    return text[:start] + "\n".join(lines) + "\n" + text[end:]


def run_bounded(
    cmd: list[str], cwd: Path, log: Path, seconds: float, env: dict[str, str] | None = None
) -> tuple[int | None, float]:
    """Run cmd in its own process group; at the time box, end the group (SIGTERM, SIGKILL 10 s later).

    mutmut records each mutant's result as it comes, so what finished before the box is kept."""
    started = time.monotonic()
    with log.open("ab") as out:
        out.write(f"\n$ {' '.join(cmd)}  (cwd {cwd}, time box {seconds:.0f}s)\n".encode())
        out.flush()
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            rc: int | None = proc.wait(timeout=seconds)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            rc = None
    return rc, (time.monotonic() - started) / 60


def meta_files(wd: Path, group: Group) -> list[Path]:
    return [wd / "mutants" / f"{path}.meta" for path in group.mutate]


def mine(name: str, group: Group) -> bool:
    return not group.functions or any(fnmatch.fnmatch(name, pattern) for pattern in group.functions)


def forget_survivors(wd: Path, group: Group) -> None:
    """Survivors and unfinished mutants are re-run every time (a new test may kill them now); with
    `survivors_without_fork` the survivors are left to judge_without_fork instead of mutmut."""
    for meta in meta_files(wd, group):
        if not meta.exists():
            continue
        data = json.loads(meta.read_text(encoding="utf-8"))
        codes = data.get("exit_code_by_key", {})
        for name, code in codes.items():
            if (
                code not in KILLED
                and code not in TIMEOUT
                and not (code == 0 and group.survivors_without_fork)
            ):
                codes[name] = None
        meta.write_text(json.dumps(data, indent=4), encoding="utf-8")


def classify(code: int | None) -> str:
    if code in KILLED:
        return "killed"
    if code in TIMEOUT:
        return "timeout"
    if code in NO_TESTS:
        return "no tests"
    if code == 0:
        return "survived"
    if code is None or code == 2:
        return "not checked"
    return "suspicious"


def collect(wd: Path, group: Group, outcome: Outcome) -> None:
    for path, meta in zip(group.mutate, meta_files(wd, group), strict=True):
        if not meta.exists():
            continue
        data = json.loads(meta.read_text(encoding="utf-8"))
        for name, code in sorted(data.get("exit_code_by_key", {}).items()):
            if not mine(name, group):
                continue
            status = classify(code)
            outcome.counts[status] = outcome.counts.get(status, 0) + 1
            if status == "survived":
                outcome.survivors.append(name)
                outcome.survivor_paths.append((path, name))
            elif status == "no tests":
                function = name.rsplit("__mutmut_", 1)[0]
                outcome.untested[function] = outcome.untested.get(function, 0) + 1


_DIFFS = """
import sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
for line in sys.stdin.read().split():
    path, name = line.split("=", 1)
    print(f"## {name}")
    print(get_diff_for_mutant(name, path=path))
    print()
"""


def show_survivors(wd: Path, outcome: Outcome) -> None:
    """Every survivor's diff, in .mutation/<group>.survivors (one process; `mutmut show` per mutant is slow)."""
    names = "\n".join(f"{path}={name}" for path, name in outcome.survivor_paths)
    shown = subprocess.run(
        [sys.executable, "-c", _DIFFS], cwd=wd, input=names, capture_output=True, text=True
    )
    (WORK / f"{outcome.name}.survivors").write_text(shown.stdout + shown.stderr, encoding="utf-8")


RECHECK_SECONDS = 120.0  # wall time for one mutant's plain pytest run


def judge_without_fork(wd: Path, group: Group, base: dict[str, Any], seconds: float, workers: int) -> str:
    """Run what mutmut's workers timed out on or did not reach in plain pytest processes; keep their verdicts.

    mutmut forks each worker from a process that has run tests; a test that then takes a lock held at
    fork time hangs until mutmut's limit (seen in the bundle group: wording mutants that no test reads
    "timed out", and a timeout counts as caught). MUTANT_UNDER_TEST selects the mutant without a fork:
    exit 0 is a survivor, 1 a kill; only what runs out of time again stays a timeout. Mutants a time
    box left unchecked are judged the same way while the box lasts."""
    from mutmut.utils.format_utils import mangled_name_from_mutant_name

    stats = wd / "mutants" / "mutmut-stats.json"
    if not stats.exists():
        return ""
    tests_by = json.loads(stats.read_text(encoding="utf-8")).get("tests_by_mangled_function_name", {})
    log = WORK / f"{group.name}.log"
    deadline = time.monotonic() + seconds
    metas = {
        meta: json.loads(meta.read_text(encoding="utf-8")) for meta in meta_files(wd, group) if meta.exists()
    }
    todo = [
        (meta, name, tests)
        for meta, data in metas.items()
        for name, code in sorted(data.get("exit_code_by_key", {}).items())
        if (code in TIMEOUT or code is None or (code == 0 and group.survivors_without_fork))
        and mine(name, group)
        and (tests := sorted(tests_by.get(mangled_name_from_mutant_name(name), [])))
    ]

    def judge(item: tuple[Path, str, list[str]]) -> str:
        meta, name, tests = item
        left = min(deadline - time.monotonic(), RECHECK_SECONDS)
        if left < 5:
            return "left (time box)"
        cmd = [
            sys.executable,
            "-m",
            "pytest",
            "--rootdir=.",
            "-x",
            "-q",
            "-p",
            "no:randomly",
            *tests,
            *base.get("pytest_add_cli_args", []),
        ]
        rc, _ = run_bounded(cmd, wd / "mutants", log, left, env={**os.environ, "MUTANT_UNDER_TEST": name})
        if rc in (0, 1):
            metas[meta]["exit_code_by_key"][name] = rc
            return "survived" if rc == 0 else "killed"
        return "timeout" if rc is None else f"pytest exit {rc}"

    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        verdicts = list(pool.map(judge, todo))
    for meta, data in metas.items():
        meta.write_text(json.dumps(data, indent=4), encoding="utf-8")
    counts = {v: verdicts.count(v) for v in sorted(set(verdicts))}
    return ", ".join(f"{n} {what}" for what, n in counts.items())


def run_group(group: Group, base: dict[str, Any], max_children: int, fresh: bool) -> Outcome:
    wd = WORK / group.name
    if fresh and wd.exists():
        shutil.rmtree(wd)
    wd.mkdir(parents=True, exist_ok=True)
    sync_tree(wd)
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    (wd / "pyproject.toml").write_text(group_pyproject(pyproject, base, group), encoding="utf-8")
    forget_survivors(wd, group)
    log = WORK / f"{group.name}.log"
    log.write_text("", encoding="utf-8")
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *group.functions]
    outcome = Outcome(group.name)
    started = time.monotonic()
    rc, _ = run_bounded(cmd, wd, log, group.minutes * 60)
    notes = []
    if rc is None:
        notes.append(f"stopped at its {group.minutes:g}-minute time box")
    elif rc != 0:
        notes.append(f"mutmut exited {rc} (see .mutation/{group.name}.log)")
    left = group.minutes * 60 - (time.monotonic() - started)
    judged = judge_without_fork(wd, group, base, left, max_children)
    if judged:
        notes.append(f"timeouts and unchecked run without a fork: {judged}")
    outcome.minutes = (time.monotonic() - started) / 60
    outcome.note = "; ".join(notes)
    collect(wd, group, outcome)
    show_survivors(wd, outcome)
    return outcome


def run_manual(mutants: list[dict[str, Any]], budget_minutes: float) -> list[tuple[str, str, float]]:
    """Apply each hand-written mutant in a copy of the tree and run its tests: they must fail."""
    wd = WORK / "manual"
    wd.mkdir(parents=True, exist_ok=True)
    sync_tree(wd)
    results: list[tuple[str, str, float]] = []
    deadline = time.monotonic() + budget_minutes * 60
    log = WORK / "manual.log"
    log.write_text("", encoding="utf-8")
    for mutant in mutants:
        left = deadline - time.monotonic()
        if left <= 0:
            results.append((mutant["name"], "not checked (time box)", 0.0))
            continue
        target = wd / mutant["file"]
        original = target.read_text(encoding="utf-8")
        if original.count(mutant["old"]) != 1:
            results.append((mutant["name"], "stale: the text to mutate is not in the file exactly once", 0.0))
            continue
        target.write_text(original.replace(mutant["old"], mutant["new"]), encoding="utf-8")
        try:
            cmd = [
                sys.executable,
                "-m",
                "pytest",
                "-x",
                "-q",
                "-p",
                "no:cacheprovider",
                "-m",
                PYTEST_MARKERS,
                *mutant["tests"],
            ]
            rc, minutes = run_bounded(cmd, wd, log, left)
        finally:
            target.write_text(original, encoding="utf-8")
        status = {None: "not checked (time box)", 0: "SURVIVED", 1: "killed"}.get(
            rc, f"error (pytest exit {rc})"
        )
        results.append((mutant["name"], status, minutes))
    return results


def summary(
    outcomes: list[Outcome], manual: list[tuple[str, str, float]], argv: list[str], minutes: float
) -> str:
    rev = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
    ).stdout
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
    out = [
        f"# Mutation testing: {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}",
        "",
        f"`bash scripts/mutation.sh {' '.join(argv)}`".replace("  ", " ").replace(" `", "`"),
        f"at {rev.strip()}{' (with uncommitted changes)' if dirty.strip() else ''}, "
        f"{minutes:.1f} minutes, load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores",
        "",
        "| group | mutants | killed | timeout | survived | no tests | not checked | score | minutes | note |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        c = o.counts
        score = "-" if o.score is None else f"{o.score:.1%}"
        out.append(
            f"| {o.name} | {sum(c.values())} | {c.get('killed', 0)} | {c.get('timeout', 0)} | "
            f"{c.get('survived', 0)} | {c.get('no tests', 0)} | {c.get('not checked', 0) + c.get('suspicious', 0)} "
            f"| {score} | {o.minutes:.1f} | {o.note} |"
        )
    for o in outcomes:
        if o.survivors:
            out += ["", f"## {o.name}: survivors (diffs in .mutation/{o.name}.survivors)", ""]
            out += [f"- `{name}`" for name in o.survivors]
        if o.untested:
            out += [
                "",
                f"## {o.name}: functions no selected test reaches (their mutants count as not caught)",
                "",
            ]
            out += [f"- `{name}`: {n} mutants" for name, n in sorted(o.untested.items())]
    if manual:
        out += ["", "## Hand-written mutants", "", "| mutant | result | minutes |", "|---|---|---|"]
        out += [f"| {name} | {status} | {m:.1f} |" for name, status, m in manual]
    return "\n".join(out) + "\n"


def main() -> int:
    base, groups, manual = load_config()
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = [g.name for g in groups] + ["manual"]
    parser.add_argument("groups", nargs="*", metavar="GROUP", help=f"default: all of {names}")
    # Two workers: the whole run fits 30 minutes on a quiet 2-core machine only with both cores
    # (docs/testing.md); give 1 where the machine is shared.
    parser.add_argument("--max-children", type=int, default=2, help="parallel mutant workers (default 2)")
    parser.add_argument("--fresh", action="store_true", help="drop mutmut's cached results first")
    parser.add_argument("--time-box", type=float, help="minutes per group instead of pyproject's")
    parser.add_argument(
        "--manual-minutes", type=float, default=3.0, help="time box of the hand-written mutants"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=28.0,
        help="minutes for the whole run (default 28): a group gets what is left of it at most",
    )
    args = parser.parse_args()
    unknown = set(args.groups) - set(names)
    if unknown:
        parser.error(f"unknown groups {sorted(unknown)}")
    chosen = [g for g in groups if not args.groups or g.name in args.groups]
    WORK.mkdir(exist_ok=True)
    started = time.monotonic()
    outcomes = []
    run_manual_too = not args.groups or "manual" in args.groups
    reserve = args.manual_minutes if run_manual_too else 0.0
    for group in chosen:
        if args.time_box is not None:
            group.minutes = args.time_box
        left = args.budget - reserve - (time.monotonic() - started) / 60 - 0.5  # 0.5: stopping and summing up
        if left < 1:
            print(f"== {group.name}: not run, the {args.budget:g}-minute budget is spent", flush=True)
            outcomes.append(Outcome(group.name, note="not run: budget spent"))
            continue
        group.minutes = min(group.minutes, left)
        print(f"== {group.name}: {', '.join(group.mutate)} ({group.minutes:g} min at most)", flush=True)
        outcome = run_group(group, base, args.max_children, args.fresh)
        print(f"   {outcome.counts} {outcome.note}", flush=True)
        outcomes.append(outcome)
    results = run_manual(manual, args.manual_minutes) if run_manual_too else []
    text = summary(outcomes, results, sys.argv[1:], (time.monotonic() - started) / 60)
    (WORK / "summary.md").write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
