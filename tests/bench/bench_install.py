"""Benchmark: the overhead a composite action adds before its check starts (installing fastapi-ci).

    uv run python tests/bench/bench_install.py [--runs 5] [--pip-runs N] [--python PYTHON]
        [--script actions/_shared/install-fastapi-ci.sh]

Every composite action begins with `install-fastapi-ci.sh plan`, actions/cache restoring the
plan's `cache-dir` under its `cache-key`, then `install-fastapi-ci.sh install`. This times
`plan` + `install` (two `bash` processes, as the action's two steps run them) in each case,
every run in a fresh, empty RUNNER_TEMP, always at the same path (as GitHub's
/home/runner/work/_temp: a cached venv is only used at the path it was built for):

* cold: nothing restored (a cache miss): uv downloads the locked set from PyPI;
* cold, no uv: the same with no `uv` on PATH (a runner without uv): the script first
  pip-installs its pinned uv into the cache dir;
* warm: a cache dir filled by an earlier (untimed) cold install is copied into the fresh
  RUNNER_TEMP before the clock starts, as actions/cache would restore it. That restore is
  actions/cache's work, not the script's: it is NOT in the figure; the copy's own median
  (until it is on disk) is printed beside the table for scale (on GitHub the restore is a
  download + untar instead). Warm installs run with UV_OFFLINE=1: one that needed a
  download fails the benchmark instead of passing for warm;
* warm, no uv: the same, from a cache filled by a cold run without uv (uv comes from it);
* installed: the second action of the same job: `plan` + `install` again in the RUNNER_TEMP
  the warm run just installed into (the plan says installed=true, the cache step is skipped);
* pip (the naive way): `python -m venv` + `pip install -r` of the same locked set (the same
  file `uv export` writes, with hashes) + `pip install --no-deps` of the package itself.

The machine is made to look like a fresh runner for every case: pip's cache is a fresh
PIP_CACHE_DIR inside the run's RUNNER_TEMP (the no-uv bootstrap and the pip case start with
nothing cached), pip reads no config file (this machine's pip.conf adds local indexes a
runner has not), and the Python is the real interpreter, not this benchmark's venv. The cases
alternate within each run, so load from elsewhere on the machine hits them alike; the load
average is printed with each run. Before each case, untimed, `sync` writes out what the case
before left in the page cache (the disk, not the CPU, is what a cold install waits on).
Prints a table (median, min, max, ratio to pip) and PASS/MISS for the targets of issue #8:
warm under 1 s, cold under 5 s.

Then, per action (issue #18: each installs the core plus only its extra), with uv on PATH:
the cache archive's size, and cold (nothing restored) and warm times, where warm INCLUDES
the restore done as actions/cache does it: `tar` extracting a zstd archive of the cache dir
(`tar --use-compress-program zstdmt`), into a fresh RUNNER_TEMP; and the naive way for the
same set (pip, as above, with the set's extras), `--pip-runs` times. Targets: schema-guard's
cache <= 30 MB, its warm overhead with the restore <= 1.5 s, its cold <= 5 s; the full set
(every extra) warm with the restore <= 4 s. `--per-action-only` skips the first table;
`--action NAME` (repeatable) times only those sets, e.g. `--action "full set"`.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL = REPO_ROOT / "actions" / "_shared" / "install-fastapi-ci.sh"
# The plan's cache-dir under RUNNER_TEMP: what actions/cache saves and restores.
CACHE_DIR = "fastapi-ci-cache"
TARGET_WARM_SECONDS = 1.0
TARGET_COLD_SECONDS = 5.0
CASES = ("cold", "cold, no uv", "warm", "warm, no uv", "installed", "pip")


@dataclass(frozen=True)
class Runner:
    """How to start processes the way a fresh runner would: an environment, a Python."""

    env: Mapping[str, str]
    python: Path
    script: Path

    def run(self, command: list[str], extra: Mapping[str, str]) -> None:
        """Run a command to completion; a failure stops the benchmark with its output."""
        completed = subprocess.run(
            command,
            env={**self.env, **extra},
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if completed.returncode != 0:
            raise SystemExit(
                f"failed ({completed.returncode}): {' '.join(command)}\n"
                f"{completed.stdout}{completed.stderr}"
            )


def has_uv(directory: str) -> bool:
    """Whether a PATH entry holds a uv (or uvx) executable."""
    return any(os.access(Path(directory) / name, os.X_OK) for name in ("uv", "uvx"))


def runner_environments(python: Path, scratch: Path, script: Path) -> tuple[Runner, Runner]:
    """The environment with uv on PATH, and the one without it."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("UV_", "GITHUB_", "PIP_")) and name != "VIRTUAL_ENV"
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for keep in ("PIP_CERT", "PIP_DEFAULT_TIMEOUT"):  # reaching PyPI from here; no index change
        if keep in os.environ:
            env[keep] = os.environ[keep]
    # Not this benchmark's own venv (under `uv run` its bin/ comes first on PATH).
    own_bin = str(Path(sys.prefix) / "bin") if sys.prefix != sys.base_prefix else None
    path = [entry for entry in os.environ.get("PATH", "").split(os.pathsep) if entry != own_bin]
    # As after actions/setup-python: the interpreter's own directory first.
    with_uv = {**env, "PATH": os.pathsep.join([str(python.parent), *path])}
    # Without uv: the interpreter through symlinks in a directory of its own (its real
    # directory may hold uv too), then every PATH entry that has no uv.
    python_only = scratch / "python-only-bin"
    python_only.mkdir()
    for name in ("python3", "python"):
        (python_only / name).symlink_to(python)
    without = [str(python_only), *(entry for entry in path if not has_uv(entry))]
    without_uv = {**env, "PATH": os.pathsep.join(without)}
    if shutil.which("uv", path=without_uv["PATH"]) is not None:
        raise SystemExit("could not build a PATH without uv")
    return Runner(with_uv, python, script), Runner(without_uv, python, script)


def real_python(requested: str | None) -> Path:
    """The interpreter a runner would have on PATH: not a venv's, not a pyenv shim."""
    python = requested or shutil.which("python3", path=os.environ.get("PATH")) or "python3"
    base = subprocess.run(
        [python, "-c", "import sys; print(getattr(sys, '_base_executable', sys.executable))"],
        capture_output=True,
        text=True,
        check=True,
        env={key: value for key, value in os.environ.items() if key != "VIRTUAL_ENV"},
    ).stdout.strip()
    return Path(base).resolve()


def job_env(runner_temp: Path) -> dict[str, str]:
    """What the runner gives each step of a job, plus a pip cache as empty as a fresh VM's."""
    return {
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_OUTPUT": str(runner_temp / "github_output"),
        "GITHUB_PATH": str(runner_temp / "github_path"),
        "PIP_CACHE_DIR": str(runner_temp / "pip-cache"),
    }


def plan_and_install(
    runner: Runner, runner_temp: Path, extras: tuple[str, ...] = (), *, offline: bool = False
) -> float:
    """Wall time of the action's two steps: `plan`, then `install` (with the action's extras).

    offline: a warm run, which must need no download (uv fails instead of fetching).
    """
    extra = job_env(runner_temp) | ({"UV_OFFLINE": "1"} if offline else {})
    started = time.perf_counter()
    runner.run(["bash", str(runner.script), "plan", *extras], extra)
    runner.run(["bash", str(runner.script), "install", *extras], extra)
    return time.perf_counter() - started


def naive(runner: Runner, runner_temp: Path, requirements: Path) -> float:
    """Wall time of the plain way: venv + pip install of the locked set + the package."""
    extra = job_env(runner_temp)
    venv = runner_temp / "venv"
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    started = time.perf_counter()
    runner.run([str(runner.python), "-m", "venv", str(venv)], extra)
    runner.run([*pip, "-r", str(requirements)], extra)
    runner.run([*pip, "--no-deps", str(REPO_ROOT)], extra)
    return time.perf_counter() - started


def outputs(runner_temp: Path) -> dict[str, str]:
    """The plan's outputs, as written to GITHUB_OUTPUT."""
    text = (runner_temp / "github_output").read_text()
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def check_cold(runner_temp: Path, bootstrapped_uv: bool) -> None:
    """The run really was a cold install, with uv bootstrapped from PyPI when wanted."""
    if outputs(runner_temp).get("installed") != "false":
        raise SystemExit(f"cold run found an install in {runner_temp}")
    uv_in_cache = (runner_temp / CACHE_DIR / "uv" / "bin" / "uv").exists()
    if uv_in_cache != bootstrapped_uv:
        raise SystemExit(f"uv in the cache dir: {uv_in_cache}, expected {bootstrapped_uv}")


def restore(source: Path, runner_temp: Path) -> float:
    """actions/cache's part, done by hand: the filled cache dir into the fresh RUNNER_TEMP."""
    started = time.perf_counter()
    shutil.copytree(source, runner_temp / CACHE_DIR, symlinks=True)
    os.sync()  # written out now: the install's clock must not pay the restore's writeback
    return time.perf_counter() - started


# Every job's RUNNER_TEMP: one path, as on GitHub's runners (/home/runner/work/_temp).
RUNNER_TEMP = Path(tempfile.gettempdir()) / f"bench-install-runner-temp-{os.getpid()}"


def in_fresh_temp(work: Callable[[Path], float]) -> float:
    """Run one measurement in a fresh, empty RUNNER_TEMP, removed afterwards (untimed)."""
    shutil.rmtree(RUNNER_TEMP, ignore_errors=True)
    RUNNER_TEMP.mkdir()
    try:
        os.sync()  # nor the writeback of the case before (its files, their removal)
        return work(RUNNER_TEMP)
    finally:
        shutil.rmtree(RUNNER_TEMP, ignore_errors=True)


def fill_cache(
    runner: Runner, destination: Path, bootstrapped_uv: bool = False, extras: tuple[str, ...] = ()
) -> Path:
    """One untimed cold install (in RUNNER_TEMP); its cache dir, kept for the warm runs."""

    def cold_then_keep(runner_temp: Path) -> float:
        plan_and_install(runner, runner_temp, extras)
        check_cold(runner_temp, bootstrapped_uv)
        shutil.copytree(runner_temp / CACHE_DIR, destination / CACHE_DIR, symlinks=True)
        return 0.0

    destination.mkdir()
    in_fresh_temp(cold_then_keep)
    return destination / CACHE_DIR


def seconds(values: list[float]) -> str:
    """`1.23` for a figure, `-` for none."""
    return f"{statistics.median(values):.2f}" if values else "-"


def verdict(ok: bool) -> str:
    """PASS or MISS."""
    return "PASS" if ok else "MISS"


def print_table(times: dict[str, list[float]]) -> None:
    """case | runs | median | min | max | ratio of the medians to pip's."""
    pip = statistics.median(times["pip"]) if times["pip"] else None
    print(f"\n{'case':<13} {'runs':>4} {'median s':>9} {'min s':>7} {'max s':>7} {'vs pip':>8}")
    for case in CASES:
        values = times[case]
        if not values:
            continue
        median = statistics.median(values)
        ratio = f"{median / pip:.3f}x" if pip else "-"
        print(
            f"{case:<13} {len(values):>4} {median:>9.2f} {min(values):>7.2f} "
            f"{max(values):>7.2f} {ratio:>8}"
        )


# --- per action: the core plus its extra, the restore included ----------------------------

# What each action installs (its `install-fastapi-ci.sh plan EXTRA`), and every extra at once.
ACTION_SETS: dict[str, tuple[str, ...]] = {
    "schema-guard": (),
    "quality-gate": ("quality",),
    "migration-lint": ("migrations",),
    "deploy actions": ("deploy",),
    "full set": ("quality", "migrations", "deploy"),
}
TARGET_SCHEMA_GUARD_CACHE_MB = 30.0
TARGET_SCHEMA_GUARD_WARM_SECONDS = 1.5
TARGET_SCHEMA_GUARD_COLD_SECONDS = 5.0
TARGET_FULL_WARM_SECONDS = 4.0


def archive(cache_dir: Path, destination: Path) -> Path:
    """The cache dir as actions/cache saves it: a tar archive compressed with zstd."""
    target = destination / "cache.tzst"
    subprocess.run(
        ["tar", "--use-compress-program", "zstdmt", "-cf", str(target), "-C",
         str(cache_dir.parent), cache_dir.name],
        check=True,
    )  # fmt: skip
    return target


def extract(cache_archive: Path, runner_temp: Path) -> float:
    """actions/cache's restore: extract the archive into RUNNER_TEMP (timed, until on disk)."""
    started = time.perf_counter()
    subprocess.run(
        ["tar", "--use-compress-program", "unzstd", "-xf", str(cache_archive), "-C",
         str(runner_temp)],
        check=True,
    )  # fmt: skip
    return time.perf_counter() - started


@dataclass
class ActionFigures:
    """One action's figures: cache sizes, cold runs, warm runs (restore, install), pip runs."""

    cache_mb: float = 0.0
    archive_mb: float = 0.0
    cold: list[float] = field(default_factory=list)
    restore: list[float] = field(default_factory=list)
    warm_install: list[float] = field(default_factory=list)
    pip: list[float] = field(default_factory=list)

    @property
    def warm(self) -> list[float]:
        """Restore + install, run by run."""
        return [r + i for r, i in zip(self.restore, self.warm_install, strict=True)]


def export_requirements(runner: Runner, extras: tuple[str, ...], destination: Path) -> Path:
    """The locked set with these extras, as pip installs it (`uv export`, hashes included)."""
    runner.run(
        [
            *("uv", "export", "--quiet", "--frozen", "--no-dev", "--no-emit-project"),
            *(f"--extra={extra}" for extra in extras),
            *("--project", str(REPO_ROOT), "--output-file", str(destination)),
        ],
        {},
    )
    return destination


def bench_actions(
    runner: Runner, runs: int, pip_runs: int, scratch: Path, sets: dict[str, tuple[str, ...]]
) -> dict[str, ActionFigures]:
    """Cold, warm (restore included) and pip per action set, the sets alternating in each run."""
    figures = {name: ActionFigures() for name in sets}
    archives: dict[str, Path] = {}
    requirements: dict[str, Path] = {}
    for index, (name, extras) in enumerate(sets.items()):
        # Untimed: the cache the warm runs restore.
        cache_dir = fill_cache(runner, scratch / f"filled-{index}", extras=extras)
        figures[name].cache_mb = (
            sum(f.stat().st_size for f in cache_dir.rglob("*") if f.is_file()) / 1e6
        )
        archives[name] = archive(cache_dir, cache_dir.parent)
        figures[name].archive_mb = archives[name].stat().st_size / 1e6
        requirements[name] = export_requirements(runner, extras, scratch / f"set-{index}.txt")
    for index in range(runs):
        load = os.getloadavg()[0]
        for name, extras in sets.items():

            def cold(runner_temp: Path, extras: tuple[str, ...] = extras) -> float:
                return plan_and_install(runner, runner_temp, extras)

            def warm(
                runner_temp: Path, name: str = name, extras: tuple[str, ...] = extras
            ) -> float:
                figures[name].restore.append(extract(archives[name], runner_temp))
                return plan_and_install(runner, runner_temp, extras, offline=True)

            def pip(runner_temp: Path, name: str = name) -> float:
                return naive(runner, runner_temp, requirements[name])

            figures[name].cold.append(in_fresh_temp(cold))
            figures[name].warm_install.append(in_fresh_temp(warm))
            if index < pip_runs:
                figures[name].pip.append(in_fresh_temp(pip))
        print(
            f"per action, run {index + 1} (load {load:.2f}): "
            + "  ".join(
                f"{name} cold {f.cold[-1]:.2f} warm {f.warm[-1]:.2f}" for name, f in figures.items()
            )
        )
    return figures


def print_action_table(figures: dict[str, ActionFigures]) -> None:
    """action | cache MB (dir / zstd archive) | cold | warm = restore + install | pip (medians)."""
    print(
        f"\n{'action':<15} {'cache MB':>9} {'archive MB':>10} {'cold s':>7} "
        f"{'restore s':>9} {'install s':>9} {'warm s':>7} {'pip s':>7} {'warm vs pip':>11}"
    )
    for name, f in figures.items():
        ratio = f"{statistics.median(f.warm) / statistics.median(f.pip):.3f}x" if f.pip else "-"
        print(
            f"{name:<15} {f.cache_mb:>9.1f} {f.archive_mb:>10.1f} {seconds(f.cold):>7} "
            f"{seconds(f.restore):>9} {seconds(f.warm_install):>9} {seconds(f.warm):>7} "
            f"{seconds(f.pip):>7} {ratio:>11}"
        )
    if guard := figures.get("schema-guard"):
        print(
            f"target schema-guard cache <= {TARGET_SCHEMA_GUARD_CACHE_MB:.0f} MB:        "
            f"{verdict(guard.cache_mb <= TARGET_SCHEMA_GUARD_CACHE_MB)}"
        )
        print(
            f"target schema-guard warm+restore <= {TARGET_SCHEMA_GUARD_WARM_SECONDS} s: "
            f"{verdict(statistics.median(guard.warm) <= TARGET_SCHEMA_GUARD_WARM_SECONDS)}"
        )
        print(
            f"target schema-guard cold <= {TARGET_SCHEMA_GUARD_COLD_SECONDS:.0f} s:          "
            f"{verdict(statistics.median(guard.cold) <= TARGET_SCHEMA_GUARD_COLD_SECONDS)}"
        )
    if full := figures.get("full set"):
        print(
            f"target full set warm+restore <= {TARGET_FULL_WARM_SECONDS:.0f} s:     "
            f"{verdict(statistics.median(full.warm) <= TARGET_FULL_WARM_SECONDS)}"
        )


def main() -> int:
    """Run every case `--runs` times (pip `--pip-runs` times) and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--pip-runs", type=int, help="runs of the slow pip case (default: --runs)")
    parser.add_argument("--python", help="the runner's Python (default: python3 on PATH)")
    parser.add_argument(
        "--per-action-only", action="store_true", help="only the per-action table (issue #18)"
    )
    parser.add_argument(
        "--action",
        action="append",
        choices=list(ACTION_SETS),
        help="time only this set in the per-action table (repeatable; default: every one)",
    )
    parser.add_argument(
        "--script",
        type=Path,
        default=INSTALL,
        help="the install script to time (default: this checkout's); for a before/after "
        "comparison, a variant at actions/_shared/ in a copy of the repository",
    )
    arguments = parser.parse_args()
    pip_runs = arguments.runs if arguments.pip_runs is None else arguments.pip_runs
    sets = {name: ACTION_SETS[name] for name in arguments.action or ACTION_SETS}
    python = real_python(arguments.python)
    times: dict[str, list[float]] = {case: [] for case in CASES}
    restores: list[float] = []
    load_start = os.getloadavg()
    print(
        f"CPUs: {os.cpu_count()}; load average at start: {' '.join(f'{x:.2f}' for x in load_start)}"
    )
    print(f"Python: {python}; uv on PATH: {shutil.which('uv')}; script: {arguments.script}")
    with tempfile.TemporaryDirectory(prefix="bench-install-") as scratch_name:
        scratch = Path(scratch_name)
        with_uv, without_uv = runner_environments(python, scratch, arguments.script.resolve())
        if arguments.per_action_only:
            print_action_table(bench_actions(with_uv, arguments.runs, pip_runs, scratch, sets))
            print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
            return 0
        requirements = export_requirements(with_uv, (), scratch / "requirements.txt")
        packages = sum(1 for line in requirements.read_text().splitlines() if "==" in line)
        print(f"locked runtime set: {packages} packages (uv export --frozen --no-dev)")
        print("filling the caches the warm runs restore (two untimed cold installs) ...")
        warm_source = fill_cache(with_uv, scratch / "filled", bootstrapped_uv=False)
        warm_no_uv_source = fill_cache(without_uv, scratch / "filled-no-uv", bootstrapped_uv=True)
        size_mb = sum(f.stat().st_size for f in warm_source.rglob("*") if f.is_file()) / 1e6
        print(f"restored cache dir: {size_mb:.0f} MB (what the plan's cache-dir holds)\n")

        def cold(runner: Runner, bootstrapped_uv: bool) -> Callable[[Path], float]:
            def work(runner_temp: Path) -> float:
                elapsed = plan_and_install(runner, runner_temp)
                check_cold(runner_temp, bootstrapped_uv)
                return elapsed

            return work

        def warm_then_installed(runner_temp: Path) -> float:
            restores.append(restore(warm_source, runner_temp))
            elapsed = plan_and_install(with_uv, runner_temp, offline=True)
            if outputs(runner_temp).get("installed") != "false":
                raise SystemExit("warm run found an install already there")
            # The second action of the same job, in the same RUNNER_TEMP.
            (runner_temp / "github_output").unlink()
            times["installed"].append(plan_and_install(with_uv, runner_temp))
            if outputs(runner_temp).get("installed") != "true":
                raise SystemExit("the second action of the job did not find the install")
            return elapsed

        def warm_no_uv(runner_temp: Path) -> float:
            restore(warm_no_uv_source, runner_temp)
            return plan_and_install(without_uv, runner_temp, offline=True)

        for index in range(arguments.runs):
            load = os.getloadavg()[0]
            times["cold"].append(in_fresh_temp(cold(with_uv, bootstrapped_uv=False)))
            times["cold, no uv"].append(in_fresh_temp(cold(without_uv, bootstrapped_uv=True)))
            times["warm"].append(in_fresh_temp(warm_then_installed))
            times["warm, no uv"].append(in_fresh_temp(warm_no_uv))
            if index < pip_runs:
                times["pip"].append(
                    in_fresh_temp(lambda runner_temp: naive(with_uv, runner_temp, requirements))
                )
            this_run = "  ".join(
                f"{case} {times[case][-1]:.2f}" for case in CASES if len(times[case]) == index + 1
            )
            print(f"run {index + 1} (load {load:.2f}): {this_run}")
    print_table(times)
    load_end = os.getloadavg()
    print(
        f"\nnot timed: the restore (actions/cache's step); here a local copy of the "
        f"{size_mb:.0f} MB cache dir, median {seconds(restores)} s"
    )
    if pip_runs != arguments.runs:
        print(f"pip: {pip_runs} runs only (--pip-runs), the other cases {arguments.runs}")
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in load_end)} ({os.cpu_count()} CPUs)")
    warm = statistics.median(times["warm"])
    cold_median = statistics.median(times["cold"])
    cold_no_uv = statistics.median(times["cold, no uv"])
    print(
        f"target warm < {TARGET_WARM_SECONDS:.0f} s:          {verdict(warm < TARGET_WARM_SECONDS)}"
    )
    print(
        f"target cold < {TARGET_COLD_SECONDS:.0f} s:          "
        f"{verdict(cold_median < TARGET_COLD_SECONDS)}"
    )
    print(
        f"  (cold without uv on PATH < {TARGET_COLD_SECONDS:.0f} s: "
        f"{verdict(cold_no_uv < TARGET_COLD_SECONDS)})"
    )
    with tempfile.TemporaryDirectory(prefix="bench-install-actions-") as scratch_name:
        with_uv, _ = runner_environments(python, Path(scratch_name), arguments.script.resolve())
        print_action_table(
            bench_actions(with_uv, arguments.runs, pip_runs, Path(scratch_name), sets)
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
