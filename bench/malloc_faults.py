"""Page faults and CPU time of a backbone forward pass in a thread, with glibc's malloc
defaults and with the workers' settings (inference.runtime.tune_allocator).

    .venv/bin/python bench/malloc_faults.py [--views 3 24] [--passes 12]

Each setting runs in a fresh process (a process keeps its allocator settings), which loads the
backbone and runs `--passes` forward passes per batch size in one thread, as a worker's batcher
does; the first two passes of each size are not counted. Minor page faults and CPU seconds
(user + system) are the process's, from getrusage, so other load on the machine changes the CPU
figures but hardly the fault counts.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WARMUP_PASSES = 2


def child(views, passes):
    """Runs in the child process: prints {views: [faults, cpu ms, system cpu ms]} as JSON."""
    import django

    django.setup()
    from inference.runtime import tune_allocator

    tuned = tune_allocator()
    import torch

    from inference.backbone import load_backbone

    model = load_backbone()
    results = {}

    def run():
        for n in views:
            batch = torch.randn(n, 3, 224, 224)
            rows = []
            with torch.no_grad():
                for i in range(passes):
                    before = resource.getrusage(resource.RUSAGE_SELF)
                    model(batch)
                    after = resource.getrusage(resource.RUSAGE_SELF)
                    if i >= WARMUP_PASSES:
                        system = after.ru_stime - before.ru_stime
                        cpu = after.ru_utime - before.ru_utime + system
                        rows.append((after.ru_minflt - before.ru_minflt, cpu * 1000, system * 1000))
            results[n] = [statistics.median(column) for column in zip(*rows, strict=True)]

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    print(json.dumps({"tuned": tuned, "results": results}))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--views", type=int, nargs="+", default=[3, 24], help="batch sizes (default 3 24)")
    parser.add_argument("--passes", type=int, default=12, help="passes per batch size (default 12)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.views, args.passes)
    counted = args.passes - WARMUP_PASSES
    print(f"backbone forward passes in a thread, {os.cpu_count()} CPUs; medians over {counted} passes")
    print("| malloc | views | minor page faults | CPU ms (user + system) | of which system |")
    print("|---|---|---|---|---|")
    for setting in ("0", "1"):
        env = dict(os.environ, GEOGAME_MALLOC_TUNING=setting, DJANGO_SETTINGS_MODULE="config.settings")
        command = [sys.executable, __file__, "--child", "--passes", str(args.passes), "--views"]
        command += [str(v) for v in args.views]
        out = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True)
        report = json.loads(out.stdout.strip().splitlines()[-1])
        label = "tuned (workers)" if report["tuned"] else "glibc defaults"
        for views, (faults, cpu, system) in report["results"].items():
            print(f"| {label} | {views} | {faults:.0f} | {cpu:.0f} | {system:.0f} |")


if __name__ == "__main__":
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    main()
