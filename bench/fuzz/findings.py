"""Statistics and findings: counts per generator, replies by code and refusal, and each finding
with a reproduction (its input saved next to the report)."""

import collections
import hashlib
import re
import sys
import threading

from . import REPO


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.per_gen = collections.defaultdict(lambda: collections.Counter())
        self.replies = collections.Counter()
        self.refusals = collections.Counter()  # "unauthorized" replies by why (WHY)
        self.modes = collections.Counter()
        self.findings = collections.OrderedDict()  # (kind, signature) -> {"count", "examples"}
        self.notes = collections.Counter()
        self.flaky = []
        self.server_nonces = set()
        self.checked = 0  # replies compared with the model

    def count_input(self, gen, nbytes):
        with self.lock:
            c = self.per_gen[gen]
            c["inputs"] += 1
            c["bytes"] += nbytes

    def count(self, gen, key, n=1):
        with self.lock:
            self.per_gen[gen][key] += n

    def timing(self, gen, seconds, ref):
        """How long the server took over one input (send to close): where its time goes."""
        with self.lock:
            c = self.per_gen[gen]
            c["answer_s_total"] = c.get("answer_s_total", 0.0) + seconds
            if seconds > c.get("answer_s_max", 0.0):
                c["answer_s_max"] = seconds
                c["slowest"] = ref

    def count_mode(self, mode):
        with self.lock:
            self.modes[mode] += 1

    def reply(self, gen, label, why=None):
        with self.lock:
            self.replies[label] += 1
            self.per_gen[gen]["replies"] += 1
            if why is not None:
                self.refusals[why] += 1

    def count_checked(self, n):
        with self.lock:
            self.checked += n

    def fresh_server_nonce(self, nonce):
        """False if the server handed out this nonce before (§1a: fresh nonces make proofs single-use)."""
        with self.lock:
            if nonce in self.server_nonces:
                return False
            self.server_nonces.add(nonce)
            return True

    def note(self, key, n=1):
        with self.lock:
            self.notes[key] += n

    def finding(self, kind, signature, example):
        with self.lock:
            entry = self.findings.setdefault((kind, signature), {"kind": kind, "signature": signature,
                                                                  "count": 0, "examples": []})
            entry["count"] += 1
            if len(entry["examples"]) < 5:
                entry["examples"].append(example)
            return entry["count"]


class Findings:
    """Saves the exact inputs of findings next to the report so that they can be resent."""

    def __init__(self, stats, save_dir):
        self.stats = stats
        self.save_dir = save_dir

    def add(self, kind, signature, item=None, detail=None, extra=None):
        example = {"detail": detail}
        if item is not None:
            data = item.data
            example.update(ref=item.ref, generators=item.gens, mode=item.mode, size=len(data),
                           sha256=hashlib.sha256(data).hexdigest(), head=repr(data[:300]),
                           forms=[i.doc.get("form") for i in item.inputs])
            if any(i.interactive for i in item.inputs):
                example["template"] = ("hellos answered one at a time, then these bytes with ~slotN~ filled in "
                                       "from the server's nonces")
            if self.save_dir is not None and 0 < len(data) <= 8 << 20:
                self.save_dir.mkdir(parents=True, exist_ok=True)
                path = self.save_dir / f"{item.ref.replace(':', '-')}.bin"
                path.write_bytes(data)
                example["file"] = str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)
        if extra:
            example.update(extra)
        count = self.stats.finding(kind, signature, example)
        if count == 1:
            print(f"FINDING [{kind}] {signature}: {detail} ({example.get('ref', '')})", file=sys.stderr, flush=True)


def signature_of(reason):
    """Group findings: numbers and quoted text out of the reason."""
    return re.sub(r"'[^']*'|\"[^\"]*\"|\d+", "#", reason or "")[:160]


_ESCAPE = re.compile(rb"\\u([0-9a-fA-F]{4})")


def has_lone_surrogate_escape(data):
    """Whether the bytes hold a \\uD800-\\uDFFF escape that is not half of a valid pair (JSON accepts
    it; Python then holds a str that cannot be encoded as UTF-8)."""
    codes = [(m.start(), m.end(), int(m.group(1), 16)) for m in _ESCAPE.finditer(data)]
    for i, (start, end, code) in enumerate(codes):
        if 0xD800 <= code <= 0xDBFF:
            nxt = codes[i + 1] if i + 1 < len(codes) else None
            if nxt is None or nxt[0] != end or not 0xDC00 <= nxt[2] <= 0xDFFF:
                return True
        elif 0xDC00 <= code <= 0xDFFF:
            prev = codes[i - 1] if i else None
            if prev is None or prev[1] != start or not 0xD800 <= prev[2] <= 0xDBFF:
                return True
    return False


def item_signature(item, reason):
    """Findings of one cause share a signature: where (the generator, or "batch": the culprit of a
    batch is one of several), the reason without its numbers; inputs holding a lone surrogate
    escape (one known cause of dropped connections) are grouped on their own."""
    sig = signature_of(reason)
    if has_lone_surrogate_escape(item.data):
        return f"lone surrogate escape in the input: {sig}"
    return f"{item.gens[0] if item.kind != 'batch' else 'batch'}: {sig}"


def mismatch(findings, item, reason, variants, actual, conv, ctx, nonces, replays=()):
    """Records a reply that no variant of the model allows."""
    findings.add("reply_mismatch", item_signature(item, reason), item, reason, extra={
        "expected": [list(e) for e in variants[0][0]][:20], "actual": [list(a[:3]) for a in actual][:20],
        "sends": [[round(at, 3), repr(data[:120])] for at, data in conv.sends][:20],
        "received_head": repr(bytes(conv.ex.received[:300])), "replays": list(replays),
    })
