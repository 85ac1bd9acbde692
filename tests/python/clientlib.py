"""What the aiortc test clients (whip_publish.py, whep_view.py) share: JSON-lines
output, IPv4 host candidates, and a run with a deadline, signal handling and a
watchdog."""

import asyncio
import json
import os
import re
import signal
import sys
import threading


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def patch_host_addresses(force_loopback):
    """IPv4 host candidates only; add 127.0.0.1 when asked or when there is no other
    IPv4 address (aioice never offers it by itself, and a bare network namespace has
    nothing else)."""
    import aioice.ice

    orig = aioice.ice.get_host_addresses

    def get_host_addresses(use_ipv4, use_ipv6):
        addrs = [a for a in orig(use_ipv4, False) if ":" not in a]
        if use_ipv4 and "127.0.0.1" not in addrs and (force_loopback or not addrs):
            addrs = ["127.0.0.1"] + addrs
        return addrs

    aioice.ice.get_host_addresses = get_host_addresses


_CAND_RE = re.compile(r"^a=candidate:\S+ \d+ \S+ \d+ (\S+) ")


def strip_ipv6_candidates(sdp):
    """Drop a=candidate lines whose connection address is IPv6 (aiortc handles them badly)."""
    out = []
    for line in sdp.splitlines():
        m = _CAND_RE.match(line)
        if m and ":" in m.group(1):
            continue
        out.append(line)
    return "\r\n".join(out) + "\r\n"


def run_client(make_run, overall):
    """Runs `make_run().main()` for at most `overall` seconds; SIGTERM/SIGINT end it
    cleanly ({"event":"terminated"}, exit 0; the run object records `signal_name`).
    A watchdog thread exits hard 5 s later if the event loop itself is wedged.
    Returns the exit code."""

    def _hard_exit():
        emit({"event": "error", "message": f"watchdog: still running after {overall + 5:.0f}s"})
        os._exit(1)

    watchdog = threading.Timer(overall + 5, _hard_exit)
    watchdog.daemon = True
    watchdog.start()

    async def runner():
        run = make_run()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()

        def on_signal(name):
            if run.signal_name is None:
                run.signal_name = name
                task.cancel()

        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, on_signal, sig.name)
        try:
            return await asyncio.wait_for(run.main(), overall)
        except asyncio.TimeoutError:
            emit({"event": "error", "message": f"timeout after {overall:.0f}s"})
            return 1
        except asyncio.CancelledError:
            if run.signal_name:
                # run.main's finally has already closed the peer connection.
                emit({"event": "terminated", "signal": run.signal_name})
                return 0
            raise

    try:
        code = asyncio.run(runner())
    except Exception as exc:
        emit({"event": "error", "message": f"{type(exc).__name__}: {exc}"})
        code = 1
    watchdog.cancel()
    return code
