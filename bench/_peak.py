"""Run a Python command and print its peak RSS at exit, for the bench scripts (no GNU time needed):

    python bench/_peak.py -m gridlab predict ...      or      python bench/_peak.py -c "code"

The last line on stderr is ``PEAK_RSS_KB <n>``: this process's own peak (``ru_maxrss``), as GNU time's %M reports it.
"""
import atexit
import resource
import runpy
import sys


def _report():
    print(f"PEAK_RSS_KB {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}", file=sys.stderr, flush=True)


atexit.register(_report)
mode, target, *rest = sys.argv[1:]
if mode == "-m":
    sys.argv = [target, *rest]
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    sys.argv = ["-c", *rest]
    exec(compile(target, "<bench>", "exec"), {"__name__": "__main__"})
