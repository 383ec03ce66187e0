"""From results.json to a Markdown report with PNG plots (matplotlib), plus the targets table
and a short console summary. Pure apart from the files it writes: it can be re-run on a saved
results.json (`python -m bench.suite.report results.json out_dir`)."""

import json
import sys
from pathlib import Path

from .stats import ratio

OURS, THEIRS = "bld-remote", "blender-remote 1.3.3"
COLORS = {OURS: "#1f77b4", THEIRS: "#d62728"}
PLOTS = "benchmarks"  # the plots' folder, next to benchmarks.md (docs/benchmarks/ when published)

OUR_TCP = "bld-remote · raw TCP (v1)"
OUR_MCP = "bld-remote · MCP stdio (rmcp client)"
OUR_MCP_PY = "bld-remote · MCP stdio (Python SDK)"
OUR_MCP_HTTP = "bld-remote · MCP HTTP (rmcp client)"
THEIR_TCP = "blender-remote 1.3.3 · raw TCP"
THEIR_MCP = "blender-remote 1.3.3 · MCP stdio (Python SDK)"
THEIR_MCP_RMCP = "blender-remote 1.3.3 · MCP stdio (rmcp client)"


def _p50(rows, key):
    return (rows.get(key) or {}).get("p50_ms")


def targets(r):
    """The issue's targets, each (what, measured, met). Missing figures count as not met."""
    bg = r["latency"]["background"]
    rows = []
    tcp, mcp = _p50(bg, OUR_TCP), _p50(bg, OUR_MCP)
    rows.append(("background trivial call p50 < 0.5 ms (raw TCP)", f"{tcp} ms", tcp is not None and tcp < 0.5))
    rows.append(("background trivial call p50 < 2 ms (MCP stdio)", f"{mcp} ms", mcp is not None and mcp < 2))
    tcp_ratio = ratio(_p50(bg, THEIR_TCP), tcp)
    rows.append(("≥ 100x lower p50 than blender-remote 1.3.3 (raw TCP, same run)", f"{tcp_ratio}x",
                 tcp_ratio is not None and tcp_ratio >= 100))
    mcp_ratio = ratio(_p50(bg, THEIR_MCP_RMCP), mcp)
    rows.append(("≥ 100x lower p50 than blender-remote 1.3.3 (MCP stdio, same rmcp client)", f"{mcp_ratio}x",
                 mcp_ratio is not None and mcp_ratio >= 100))
    py_ratio = ratio(_p50(bg, THEIR_MCP), _p50(bg, OUR_MCP_PY))
    rows.append(("≥ 100x lower p50 than blender-remote 1.3.3 (MCP stdio, same Python SDK client)", f"{py_ratio}x",
                 py_ratio is not None and py_ratio >= 100))
    http = _p50(bg, OUR_MCP_HTTP)
    rows.append(("background trivial call p50 < 1 ms (MCP Streamable HTTP on loopback, rmcp client)",
                 f"{http} ms", http is not None and http < 1))
    mixed = (r.get("http") or {}).get("mixed")
    rows.append((f"{(mixed or {}).get('clients', 50)} HTTP clients with their own session handles, mixed calls: "
                 "0 errors, 0 misrouted",
                 "not run" if mixed is None else
                 f"{mixed['errors']} errors, {mixed['misrouted']} misrouted in {mixed['calls']:,} calls",
                 mixed is not None and mixed["calls"] > 0 and mixed["errors"] == 0 and mixed["misrouted"] == 0))
    fifty = next((row for row in r["concurrency"].get(OURS, []) if row["clients"] == 50), None)
    rows.append(("50 concurrent clients, zero errors",
                 "not run" if fifty is None else f"{fifty['errors']} errors in {fifty['requests']:,} calls",
                 fifty is not None and fifty["errors"] == 0 and fifty["requests"] > 0))
    big = (r["payload"].get(OURS, {}).get("result") or {}).get("50 MB") or {}
    rows.append(("50 MB result end to end < 1 s",
                 f"{big['median_s']} s (max {big['max_s']} s)" if "median_s" in big else big.get("error", "not run"),
                 "max_s" in big and big["max_s"] < 1.0))
    pool = r.get("pool") or {}
    lease = (pool.get("warm_lease_first_call") or {}).get("median_ms")
    rows.append(("pool: a new session's first call on a warm worker < 50 ms (median)",
                 "not run" if lease is None else f"{lease} ms", lease is not None and lease < 50))
    cold = (pool.get("cold_start_first_call") or {}).get("median_ms")
    rows.append(("pool: first call with no worker started (cold start) < 1.5 s (median)",
                 "not run" if cold is None else f"{cold} ms", cold is not None and cold < 1500))
    killed = (pool.get("kill_to_error") or {}).get("median_ms")
    rows.append(("pool: the call of a SIGKILLed worker fails < 1 s after the kill (median)",
                 "not run" if killed is None else f"{killed} ms", killed is not None and killed < 1000))
    overhead = r["memory"].get("ours_overhead_mib")
    rows.append(("idle addon overhead < 10 MB RSS (measured inside one Blender)", f"{overhead} MiB",
                 overhead is not None and overhead < 10))
    return rows


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _bridge(label):
    return THEIRS if label.startswith(THEIRS) else OURS


# ---------------------------------------------------------------- plots


def _plain_log_ticks(axis):
    """Plain numbers on a log axis (no 2x10^0 minor labels)."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams.update({"figure.dpi": 110, "font.size": 9, "axes.grid": True, "grid.alpha": 0.3})
    return plt


def plot_latency(r, path):
    plt = _plt()
    sections = [(name, rows) for name, rows in r["latency"].items() if rows]
    fig, axes = plt.subplots(len(sections), 1, figsize=(8, 1.2 + 0.45 * sum(len(v) for _, v in sections)),
                             squeeze=False, gridspec_kw={"height_ratios": [len(v) for _, v in sections]})
    for ax, (name, rows) in zip(axes[:, 0], sections):
        labels = list(rows)[::-1]
        p50 = [rows[k]["p50_ms"] for k in labels]
        p99 = [rows[k]["p99_ms"] for k in labels]
        colors = [COLORS[_bridge(k)] for k in labels]
        ax.barh(labels, p50, color=colors, alpha=0.85, label="p50 (bar)")
        ax.scatter(p99, labels, marker="|", s=200, color="black", label="p99 (tick)", zorder=3)
        ax.set_xscale("log")
        _plain_log_ticks(ax.xaxis)
        ax.set_xlim(0.1, max(p99) * 3)  # bars start at 0.1 ms in both panels, so lengths compare
        ax.set_title(f"trivial execute_code round trip, {name} Blender (log scale)")
        ax.set_xlabel("milliseconds")
        for y, (v, tick) in enumerate(zip(p50, p99)):
            ax.text(max(v, tick) * 1.08, y, f"{v:.3g}", va="center", fontsize=8)
    axes[0, 0].legend(loc="upper right", fontsize=7, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_concurrency(r, path):
    plt = _plt()
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for bridge, rows in r["concurrency"].items():
        if not rows:
            continue
        clients = [row["clients"] for row in rows]
        left.plot(clients, [row["req_per_s"] for row in rows], "o-", color=COLORS[bridge], label=bridge)
        right.plot(clients, [row.get("p99_ms") for row in rows], "o-", color=COLORS[bridge], label=bridge)
    left.set(title="throughput", xlabel="concurrent clients", ylabel="requests / s", yscale="log", xscale="log")
    right.set(title="p99 latency", xlabel="concurrent clients", ylabel="ms", yscale="log", xscale="log")
    for ax in (left, right):
        _plain_log_ticks(ax.xaxis)
        ax.set_xticks([row["clients"] for row in r["concurrency"][OURS]] or [1])
    left.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_payload(r, path):
    plt = _plt()
    kinds = ["result", "stdout", "code"]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.4))
    for ax, kind in zip(axes, kinds):
        for bridge, cases in r["payload"].items():
            rows = [c for c in (cases.get(kind) or {}).values() if "median_s" in c]
            if rows:
                ax.plot([c["bytes"] for c in rows], [c["median_s"] * 1000 for c in rows], "o-",
                        color=COLORS[bridge], label=bridge)
        ax.set(title=f"{kind} size", xlabel="bytes", ylabel="end-to-end ms (median)", xscale="log", yscale="log")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_workloads(r, path):
    """One panel per workload (their scales differ by 100x): a stacked bar per bridge, the
    work inside Blender solid and the bridge's share hatched, labelled in ms."""
    plt = _plt()
    names = []
    for cases in r["workloads"].values():
        names += [n for n in cases if n not in names]
    fig, axes = plt.subplots(1, len(names), figsize=(3.3 * len(names), 3.4), squeeze=False)
    for ax, name in zip(axes[0], names):
        for i, (bridge, cases) in enumerate(r["workloads"].items()):
            case = cases.get(name, {})
            if "inside_s" not in case:
                continue
            inside, extra = case["inside_s"] * 1000, max(0.0, case["bridge_ms"])
            ax.bar(i, inside, 0.6, color=COLORS[bridge], alpha=0.85)
            ax.bar(i, extra, 0.6, bottom=inside, color=COLORS[bridge], alpha=0.3, hatch="//")
            ax.text(i, inside + extra, f"+{extra:.1f} ms", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(range(len(r["workloads"])), [b.replace(" 1.3.3", "\n1.3.3") for b in r["workloads"]])
        ax.set(title=name, ylabel="ms, median (hatched: the bridge)")
        ax.margins(y=0.15)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def plot_memory(r, path):
    plt = _plt()
    m = r["memory"]
    bars = [("Blender, no addon", m.get("bare_idle_mib"), "grey"),
            ("bld-remote idle", m.get("ours_idle_mib"), COLORS[OURS]),
            ("bld-remote, peak under load", m.get("ours_under_load_mib"), COLORS[OURS]),
            ("1.3.3 idle", m.get("theirs_idle_mib"), COLORS[THEIRS]),
            ("1.3.3, peak under load", m.get("theirs_under_load_mib"), COLORS[THEIRS])]
    bars = [b for b in bars if b[1] is not None]
    fig, ax = plt.subplots(figsize=(8, 3))
    ax.barh([b[0] for b in bars][::-1], [b[1] for b in bars][::-1], color=[b[2] for b in bars][::-1])
    for y, (_, v, _) in enumerate(bars[::-1]):
        ax.text(v, y, f" {v:.0f}", va="center", fontsize=8)
    ax.set(xlabel="RSS, MiB", title="Blender's resident memory")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# ---------------------------------------------------------------- Markdown


def markdown(r):
    v, mach = r["versions"], r["machine"]
    out = [
        "# Benchmarks: bld-remote beside blender-remote 1.3.3",
        "",
        "_Generated by `./scripts/bench.sh` (bench/suite/) from the run's `results.json`; do not edit by hand._",
        "",
        f"- **Date:** {r['date']}{' — QUICK smoke run, figures not representative' if r.get('quick') else ''}",
        f"- **Machine:** {mach['cpu']}, {mach['cpus']} cores, {mach['memory_gib']} GiB, Linux {mach['kernel']}, "
        f"Python {mach['python']} (the clients)",
        f"- **Blender:** {v['blender']}, the same binary for both bridges",
        f"- **bld-remote:** commit `{v['bld_remote_commit']}`; **blender-remote:** {v['blender_remote']} from PyPI "
        f"(its addon, its keep-alive script, its Python API and its MCP server); MCP Python SDK {v['mcp_python_sdk']}",
        f"- **Run length:** {r.get('seconds')} s. Figures from one run on a shared machine: compare within the run.",
        "",
        "## Targets",
        "",
        _table(["target", "measured", "met"], [(t, m, "yes" if ok else "**no**") for t, m, ok in targets(r)]),
        "",
        "## Trivial round trip (`x = 1`)",
        "",
        "One persistent session, one call at a time, after a warm-up. Raw TCP is a Python socket client;",
        "the MCP rows are a full `tools/call execute_code` through the server's stdio.",
        "",
        f"![latency]({PLOTS}/latency.png)",
        "",
    ]
    for name, rows in r["latency"].items():
        if rows:
            out += [f"**{name} Blender**", "",
                    _table(["path", "calls", "p50 ms", "p95 ms", "p99 ms"],
                           [(k, v_["n"], v_["p50_ms"], v_["p95_ms"], v_["p99_ms"]) for k, v_ in rows.items()]), ""]
    sizes = r.get("reply_sizes") or {}
    if sizes:
        out += ["## What an agent receives", "",
                "Characters of `bld-remote mcp`'s reply (text content, and structured content as JSON) in the "
                "cases that used to drown an agent; what was cut is said in the reply, with where the rest is.", "",
                _table(["case", "text chars", "structured chars"],
                       [(k, v["text_chars"], v["structured_chars"]) for k, v in sizes.items()]), ""]
    auth = r.get("authentication") or {}
    if auth:
        out += ["## Authentication", "",
                "Opening a connection with the handshake of protocol §1a (connect, `hello` with a nonce, "
                "`authenticate`) beside connect plus one plain `hello` round trip (what the old one-line "
                "token setup cost). Then an authenticated client's trivial call alone and while stranger "
                "processes flood the port, each connection spending the pre-auth budget (4 KiB of JSON, or "
                "five hellos with nonces) and reconnecting as soon as it is closed.", ""]
        setup = auth.get("connection_setup") or {}
        out += [_table(["opening a connection (Python client)", "n", "p50 ms", "p99 ms"],
                       [(k, v_["n"], v_["p50_ms"], v_["p99_ms"]) for k, v_ in setup.items()]), ""]
        rust = auth.get("rust_client_connect")
        if rust:
            out += [_table(["Rust client, p50 of " + str(rust["connects"]), "ms"],
                           [("TCP connect", round(rust["tcp_p50"], 4)),
                            ("one hello round trip on an open connection", round(rust["hello_round_trip_p50"], 4)),
                            ("one trivial call on an open connection", round(rust["call_round_trip_p50"], 4)),
                            ("a new client's first call (TCP, owner check, handshake, call)",
                             round(rust["first_call_p50"], 4)),
                            ("added by the handshake (first call − TCP − hello − call)",
                             round(rust["handshake_adds_p50"], 4))]),
                    ""]
        flood = auth.get("preauth_flood")
        if flood:
            out += [_table(["trivial call", "p50 ms", "p99 ms", "stranger connections"],
                           [("alone", flood["idle"]["p50_ms"], flood["idle"]["p99_ms"], 0),
                            (f"{flood['strangers']} strangers flooding ({flood['seconds']} s)",
                             flood["under_flood"]["p50_ms"], flood["under_flood"]["p99_ms"],
                             flood["stranger_connections"])]), "",
                    f"p50 under the flood / alone: {flood['p50_ratio']}x.", ""]
    out += http_section(r)
    out += pool_section(r)
    out += ["## Concurrent clients", "",
            "N clients, one connection each, calling in a loop for the same time; errors counted.", "",
            f"![concurrency]({PLOTS}/concurrency.png)", ""]
    rows = []
    for bridge, runs in r["concurrency"].items():
        rows += [(bridge, x["clients"], f"{x['req_per_s']:,}", x.get("p50_ms"), x.get("p99_ms"), x["errors"],
                  x.get("server_cpu_us_per_request")) for x in runs]
    out += [_table(["bridge", "clients", "req/s", "p50 ms", "p99 ms", "errors", "Blender CPU µs/req"], rows), ""]
    out += ["## Payload scaling", "",
            "Median end-to-end time and the peak extra memory on each side (VmHWM reset before each call).",
            "1.3.3 never returns a value (`_result` is read but dropped), so it has no result row.", "",
            f"![payload]({PLOTS}/payload.png)", ""]
    rows = []
    for bridge, kinds in r["payload"].items():
        for kind, cases in kinds.items():
            for label, c in cases.items():
                if "error" in c:
                    rows.append((bridge, kind, label, "failed: " + c["error"], "", "", ""))
                else:
                    rows.append((bridge, kind, label, c["median_s"], c["max_s"], c["blender_peak_extra_mib"],
                                 c["client_peak_extra_mib"]))
    out += [_table(["bridge", "what", "size", "median s", "max s", "Blender peak +MiB", "client peak +MiB"], rows), ""]
    out += ["## Realistic work", "",
            "Inside = the bridge's own `duration` of the code; the rest of the end-to-end time is the bridge.", "",
            f"![workloads]({PLOTS}/workloads.png)", ""]
    rows = []
    for blender, key in (("background", "workloads"), ("GUI", "workloads_gui")):
        for bridge, cases in r.get(key, {}).items():
            for name, c in cases.items():
                if "error" in c:
                    rows.append((blender, bridge, name, "failed: " + c["error"], "", "", ""))
                else:
                    rows.append((blender, bridge, name, c["end_to_end_s"], c["inside_s"], c["bridge_ms"],
                                 f"{c['bridge_share'] * 100:.1f} %"))
    out += [_table(["Blender", "bridge", "work", "end to end s", "inside s", "bridge ms", "bridge share"], rows),
            "", "The plot shows the background Blender.", ""]
    m = r["memory"]
    out += notes(r)
    out += ["## Memory", "", f"![memory]({PLOTS}/memory.png)", "",
            f"The addon's own cost, RSS after importing and starting it minus before, inside one "
            f"Blender (median of {len(m.get('ours_overhead_runs_mib', [])) or '?'} processes: "
            f"{m.get('ours_overhead_runs_mib')}): **{m.get('ours_overhead_mib')} MiB**. Separate Blender processes "
            "differ by several MiB on their own, so the rows below compare orders of magnitude only.", "",
            _table(["Blender", "RSS MiB"], [
                ("background, no addon, idle", m.get("bare_idle_mib")),
                ("with bld-remote, idle", m.get("ours_idle_mib")),
                ("with bld-remote, peak under the largest concurrent load", m.get("ours_under_load_mib")),
                ("with blender-remote 1.3.3, idle", m.get("theirs_idle_mib")),
                ("with blender-remote 1.3.3, peak under the largest concurrent load", m.get("theirs_under_load_mib")),
            ]), ""]
    return "\n".join(out)


OUR_MCP_PING = "bld-remote · MCP ping, no Blender call (Python SDK)"


def http_section(r):
    """`bld-remote mcp --http` beside stdio: latency, throughput, the mixed soak and memory."""
    http = r.get("http")
    if not http:
        return []
    bg = r["latency"]["background"]
    stdio5 = r.get("mcp_stdio_concurrent") or {}
    five, mixed = http["concurrent"], http["mixed"]
    return ["## MCP over Streamable HTTP", "",
            "`bld-remote mcp --http 127.0.0.1:0` with a bearer token, driven by rmcp's Streamable HTTP client "
            "(one MCP session per client, protocol 2025-11-25). Beside it, the same calls through stdio: there "
            "each client is its own `bld-remote mcp` process; over HTTP all clients share one server. The "
            "mixed soak gives every client its own session handle holding its own number and loops over "
            "`me`, `print(me)` and `check_connection_status`; a reply with another client's number is "
            "counted as misrouted. The server's RSS is sampled once a second.", "",
            _table(["", "stdio", "HTTP"], [
                ("trivial call p50 ms (1 client)", _p50(bg, OUR_MCP), _p50(bg, OUR_MCP_HTTP)),
                ("trivial call p99 ms (1 client)", (bg.get(OUR_MCP) or {}).get("p99_ms"),
                 (bg.get(OUR_MCP_HTTP) or {}).get("p99_ms")),
                (f"{five['clients']} clients, `x = 1`, calls/s", stdio5.get("calls_per_second") and
                 round(stdio5["calls_per_second"]), five["calls_per_second"]),
                (f"{five['clients']} clients, errors", stdio5.get("errors"), five["errors"]),
            ]), "",
            _table(["mixed soak", "value"], [
                ("clients (each with its own handle)", mixed["clients"]),
                ("seconds", mixed["seconds"]),
                ("calls answered", f"{mixed['calls']:,}"),
                ("calls/s", f"{mixed['calls_per_second']:,}"),
                ("errors", mixed["errors"]),
                ("misrouted replies", mixed["misrouted"]),
                ("server RSS MiB: first sample → after 5 s of warm-up → last (peak)",
                 f"{mixed['rss_start_mib']} → {mixed.get('rss_after_warmup_mib')} → {mixed['rss_end_mib']} "
                 f"({mixed['rss_peak_mib']})"),
                ("server RSS MiB every 10 s", mixed.get("rss_every_10s_mib")),
                ("server RSS MiB idle (no session)", http["rss_idle_mib"]),
                (f"server RSS MiB with {mixed['clients']} sessions open", http["rss_with_sessions_mib"]),
                ("per open session KiB ((with sessions − idle) / sessions)", http["per_session_kib"]),
                ("server exit code after SIGTERM (drain)", http["exit_code"]),
            ]), ""] + ([f"First error: `{mixed['first_error']}`", ""] if mixed.get("first_error") else [])


def pool_section(r):
    """`bld-remote mcp --pool N`: lease, cold start, CPU-bound scaling over workers, memory."""
    pool = r.get("pool")
    if not pool:
        return []
    lease, cold, memory = pool["warm_lease_first_call"], pool["cold_start_first_call"], pool["memory"]
    killed = pool["kill_to_error"]
    rows = [(row["workers"], row["calls_per_s"], row["speedup"]) for row in pool["cpu_bound_scaling"]]
    return ["## A pool of headless Blenders", "",
            "`bld-remote mcp --pool N` driven by rmcp's client over stdio, each session with its own handle "
            "and so its own worker. A warm lease is a new session's first call (`1`) while a started worker "
            "is free; a cold start is the same call when no worker is started (Blender starts, loads the "
            "addon, answers). Scaling: each of 1..4 sessions runs "
            f"{pool['calls_per_session']} CPU-bound snippets (`{pool['cpu_bound_snippet'].splitlines()[1].strip()}`) "
            f"at once, on {r['machine']['cpus']} cores.", "",
            _table(["", "median ms", "samples"], [
                ("warm lease + first call", lease["median_ms"], len(lease["samples_ms"])),
                ("cold start + first call", cold["median_ms"], len(cold["samples_ms"])),
                ("SIGKILL of a leased worker mid-call → that call's tool error", killed["median_ms"],
                 len(killed["samples_ms"])),
            ]), "",
            _table(["workers", "CPU-bound calls/s", "speed-up over 1"], rows), "",
            _table(["memory", "MiB"], [
                ("each idle worker (RSS)", ", ".join(str(m) for m in memory["worker_rss_mib"])),
                ("the server (pool manager) with 4 workers", memory["server_rss_mib"]),
            ]), ""]


def notes(r):
    """What the figures are made of, with this run's numbers where they apply."""
    bg, gui = r["latency"]["background"], r["latency"]["gui"]
    out = ["## Reading the figures", ""]
    ping, py_call, rmcp_call = _p50(bg, OUR_MCP_PING), _p50(bg, OUR_MCP_PY), _p50(bg, OUR_MCP)
    if ping and py_call and rmcp_call:
        out.append(f"- **MCP rows include the client.** The same `bld-remote mcp` answers a tool call in "
                   f"{rmcp_call} ms through rmcp's client and {py_call} ms through the official Python SDK: "
                   f"the SDK itself adds about {round(py_call - rmcp_call, 2)} ms per call (its bare `ping` "
                   f"round trip is {ping} ms; a tool call adds its result models and schema check). At 1.3.3's "
                   "50 ms that is invisible; at ours it caps the ratio measured through that client, which is "
                   "why the 100x target is met through rmcp's client and missed through the Python SDK.")
    out.append("- **blender-remote 1.3.3's 50 ms** is its keep-alive loop: queued commands run in `step()`, "
               "called every 50 ms (`time.sleep(0.05)`) in background mode. Ours blocks on the queue instead.")
    if _p50(gui, OUR_TCP):
        out.append(f"- **GUI floor ({_p50(gui, OUR_TCP)} ms):** Blender's window loop sleeps about 5 ms when no "
                   "event is pending, and timers (ours and 1.3.3's) run from that loop.")
    big = (r["payload"].get(OURS, {}).get("result") or {}).get("50 MB") or {}
    if "median_s" in big:
        out.append(f"- **50 MB result ({big['median_s']} s):** mostly JSON encoding in Blender (the C escaper, "
                   "about 0.12 s for 50 MB), the copy over loopback and JSON decoding in the client.")
    if r.get("workloads_gui"):
        out.append("- **Realistic work in the GUI** is dominated by Blender itself: with the 100k-vertex grid in "
                   "view, the GUI Blender under Xvfb (software GL) keeps its main thread about 80 % busy, and a "
                   "call that touches the mesh waits 100–170 ms before its code starts, for both bridges alike "
                   "(measured by timestamps inside the code: the reply leaves within 0.5 ms of the code's end). "
                   "The suite pauses 1 s after each untimed setup call so that a previous redraw is not counted.")
    out.append("- **Bridge share of realistic work** counts what the bridge adds around the code: the queue "
               "hand-off, the reply, and for bld-remote the metadata (objects created/deleted, scene change) "
               "and one undo step in the GUI.")
    return out + [""]


def write(r, out_dir):
    out_dir = Path(out_dir)
    (out_dir / PLOTS).mkdir(parents=True, exist_ok=True)
    plot_latency(r, out_dir / PLOTS / "latency.png")
    plot_concurrency(r, out_dir / PLOTS / "concurrency.png")
    plot_payload(r, out_dir / PLOTS / "payload.png")
    plot_workloads(r, out_dir / PLOTS / "workloads.png")
    plot_memory(r, out_dir / PLOTS / "memory.png")
    (out_dir / "benchmarks.md").write_text(markdown(r))


def summary(r):
    lines = ["", f"bld-remote benchmark suite — {r['versions']['blender']} — {r['date']}"]
    for name, rows in r["latency"].items():
        for k, v in rows.items():
            lines.append(f"  {name:<10} {k:<48} p50 {v['p50_ms']:>9} ms  p99 {v['p99_ms']:>9} ms")
    for bridge, runs in r["concurrency"].items():
        for x in runs:
            lines.append(f"  {bridge:<22} {x['clients']:>3} clients {x['req_per_s']:>9} req/s  "
                         f"p99 {x.get('p99_ms')} ms  errors {x['errors']}")
    http = r.get("http")
    if http:
        mixed, five, stdio5 = http["mixed"], http["concurrent"], r.get("mcp_stdio_concurrent") or {}
        lines.append(f"  MCP HTTP {five['clients']} clients {five['calls_per_second']} calls/s (stdio: "
                     f"{round(stdio5.get('calls_per_second') or 0)}); {mixed['clients']} clients mixed "
                     f"{mixed['seconds']} s: {mixed['calls_per_second']} calls/s, {mixed['errors']} errors, "
                     f"{mixed['misrouted']} misrouted, RSS {mixed['rss_start_mib']} → {mixed.get('rss_after_warmup_mib')} "
                     f"(5 s) → {mixed['rss_end_mib']} MiB "
                     f"(peak {mixed['rss_peak_mib']}), idle {http['rss_idle_mib']} MiB, "
                     f"{http['per_session_kib']} KiB per session")
    pool = r.get("pool")
    if pool:
        lines.append(f"  pool: warm lease {pool['warm_lease_first_call']['median_ms']} ms, cold start "
                     f"{pool['cold_start_first_call']['median_ms']} ms, kill → error "
                     f"{pool['kill_to_error']['median_ms']} ms, CPU-bound speed-up "
                     + ", ".join(f"{row['workers']}: {row['speedup']}x" for row in pool["cpu_bound_scaling"])
                     + f", idle worker RSS {pool['memory']['worker_rss_mib']} MiB, server "
                     f"{pool['memory']['server_rss_mib']} MiB")
    auth = r.get("authentication") or {}
    for name, v in (auth.get("connection_setup") or {}).items():
        lines.append(f"  open: {name:<58} p50 {v['p50_ms']:>9} ms  p99 {v['p99_ms']:>9} ms")
    for name, v in (r.get("reply_sizes") or {}).items():
        lines.append(f"  reply: {name:<50} text {v['text_chars']:>6}  structured {v['structured_chars']:>7}")
    rust = auth.get("rust_client_connect")
    if rust:
        lines.append(f"  open (Rust client): first call on a new connection {rust['first_call_p50']:.3f} ms = TCP "
                     f"{rust['tcp_p50']:.3f} + hello {rust['hello_round_trip_p50']:.3f} + call "
                     f"{rust['call_round_trip_p50']:.3f} + the handshake's extra {rust['handshake_adds_p50']:.3f} ms")
    flood = auth.get("preauth_flood")
    if flood:
        lines.append(f"  trivial call alone p50 {flood['idle']['p50_ms']} ms; with {flood['strangers']} strangers "
                     f"flooding ({flood['stranger_connections']} connections) p50 {flood['under_flood']['p50_ms']} ms "
                     f"({flood['p50_ratio']}x)")
    lines.append("targets:")
    lines += [f"  [{'met' if ok else 'MISSED'}] {t}: {m}" for t, m, ok in targets(r)]
    return "\n".join(lines)


if __name__ == "__main__":
    results = json.loads(Path(sys.argv[1]).read_text())
    write(results, Path(sys.argv[2]))
    print(summary(results))
