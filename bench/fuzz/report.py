"""A run's report as text: ``problems`` (the findings; empty when the oracle held) and ``summary``."""

import re


def problems(report, ignore=()):
    """Findings as lines (empty: the oracle held). ``ignore``: finding signatures of known issues."""
    lines = []
    for f in report["findings"]:
        if any(re.search(p, f"{f['kind']} {f['signature']}") for p in ignore):
            continue
        ex = f["examples"][0] if f["examples"] else {}
        lines.append(f"[{f['kind']}] x{f['count']} {f['signature']}: {ex.get('detail')} "
                     f"(ref {ex.get('ref')}, input {ex.get('head', '')[:160]})")
    if not report["alive"]:
        lines.append("Blender is not alive at the end")
    return lines


def summary(report):
    s = report["settings"]
    out = [f"seed {report['seed']}, {report['duration_s']:.1f} s, {report['total_inputs']} inputs, "
           f"{report['bytes_sent'] / 2 ** 20:.1f} MiB sent, {report['connections']} connections; limits: message "
           f"{s['max_message_bytes']} B, pre-auth {s['preauth_bytes']} B / {s['preauth_messages']} messages, "
           f"idle {s['idle_timeout']:g} s, auth {s['auth_timeout']:g} s",
           f"{'generator':<32}{'inputs':>8}{'KiB':>9}{'conns':>7}{'replies':>9}{'answer s':>10}{'slowest':>16}"]
    for gen, c in report["generators"].items():
        slowest = f"{c['answer_s_max']:.2f} {c['slowest']}" if c.get("slowest") else ""
        out.append(f"{gen:<32}{c.get('inputs', 0):>8}{c.get('bytes', 0) / 2 ** 10:>9.1f}"
                   f"{c.get('connections', 0):>7}{c.get('replies', 0):>9}{c.get('answer_s_total', 0):>10.1f}"
                   f"{slowest:>16}")
    out.append(f"replies checked against the model: {report['replies_checked']}; server nonces seen: "
               f"{report['server_nonces']} (all distinct unless a finding says otherwise)")
    out.append("replies: " + ", ".join(f"{k} {v}" for k, v in report["replies"].items()))
    out.append("unauthorized by reason: " + ", ".join(f"{k} {v}" for k, v in report["refusals"].items()))
    out.append("delivery: " + ", ".join(f"{k} {v}" for k, v in sorted(report["modes"].items())))
    p = report["probe"]

    def lat(d):
        if not d.get("n"):
            return "no samples"
        return f"n={d['n']} p50 {d['p50_ms']:.1f} ms, p99 {d['p99_ms']:.1f} ms, max {d['max_ms']:.1f} ms"

    out.append(f"probe baseline: {lat(p['baseline'])}")
    out.append(f"probe during:   {lat(p['during'])}; failed calls {p['failed']}; bound "
               f"{p['bound_ms'] and round(p['bound_ms'], 1)} ms")
    out.append(f"  no hostile:   {lat(p['during_quiet'])}")
    out.append(f"  hostile:      {lat(p['during_hostile'])} ({p['hostile_sessions']} sessions)")
    r = report["rss"]
    if r:
        out.append(f"RSS: first {r['first_mib']:.1f} MiB, last {r['last_mib']:.1f} MiB, max {r['max_mib']:.1f} MiB")
    executed = [f for f in report["findings"] if f["kind"] == "executed"]
    out.append(f"executed: {'NOTHING' if not executed else f'{len(executed)} kinds of trace, see findings'}; "
               f"Blender alive: {report['alive']}; jobs seen {report['jobs_seen']} (all ours unless a finding says "
               f"otherwise)")
    out.append(f"threads {report['threads']['before']} -> {report['threads']['after']}; connections after "
               f"{report['connections_after']}; notes {report['notes']}")
    if report["findings"]:
        out.append(f"FINDINGS ({len(report['findings'])} kinds):")
        for f in report["findings"]:
            ex = f["examples"][0] if f["examples"] else {}
            out.append(f"  [{f['kind']}] x{f['count']} {f['signature']}")
            out.append(f"      {ex.get('detail')}")
            if ex.get("ref"):
                out.append(f"      ref {ex['ref']} ({', '.join(ex.get('generators', []))}, {ex.get('mode')}, forms "
                           f"{ex.get('forms')}), input {ex.get('head', '')[:200]}"
                           + (f", saved {ex['file']}" if ex.get("file") else ""))
            if ex.get("sends"):
                out.append(f"      sent (s after connecting, bytes): {ex['sends'][:6]}")
                out.append(f"      expected {ex.get('expected')[:6]}; got {ex.get('actual')[:6]}")
    else:
        out.append("no findings")
    return "\n".join(out)
