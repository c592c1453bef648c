"""The forward pass's intra-op threads (cpu_threads.py) never reach the
user's threads: torch.set_num_threads also sets the count a thread takes at
its first parallel op, so a user's thread starting its work while a switch
runs on a server thread kept one thread for good."""

import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent("""
    import threading, torch
    from dvvr_jupyter.engine.cpu_threads import intra_op_threads

    setter = threading.Thread(target=torch.set_num_threads, args=(3,))  # the default for new threads
    setter.start(); setter.join()
    inside, done, seen = threading.Event(), threading.Event(), {}

    def server(fail):
        try:
            with intra_op_threads(1):
                seen["pass"] = torch.get_num_threads()
                inside.set()
                done.wait()
                if fail:
                    raise RuntimeError("the pass raised")
        except RuntimeError:
            pass
        seen["pass after"] = torch.get_num_threads()

    for fail in (False, True):
        inside.clear(); done.clear()
        thread = threading.Thread(target=server, args=(fail,)); thread.start(); inside.wait()
        if not fail:  # the user's main thread runs its first parallel op while the pass runs
            seen["main"] = torch.get_num_threads()
        worker = threading.Thread(target=lambda: seen.__setitem__("new thread", torch.get_num_threads()))
        worker.start(); worker.join()  # e.g. a feature visualization or the user's own thread
        done.set(); thread.join()
        print(fail, seen["pass"], seen["pass after"], seen["main"], seen["new thread"], torch.get_num_threads())
""")


def test_threads_started_during_a_pass_keep_the_default_count():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stdout
    # the pass runs with 1; after it (and after it raised) its thread, the main thread and new threads have 3
    assert out.split("\n")[:2] == ["False 1 3 3 3 3", "True 1 3 3 3 3"]
