"""Items: what one fuzz step does. Spaces: "f" fuzz workers, "w" waiters, "s" slow clients, "h" hostile."""

import random

from .generators import BATCHABLE, GENERATORS, HOSTILE, make_input
from .inputs import prelude_line


class Item:
    def __init__(self, ref, kind, gens, inputs, mode):
        self.ref = ref  # "f:123": regenerate with the same seed
        self.kind = kind  # single, batch, wait, slow, paced, hostile
        self.gens = gens
        self.inputs = inputs
        self.mode = mode

    @property
    def data(self):
        """The bytes sent (for an interactive input: its template, after its prelude's hellos)."""
        prelude = b"".join(prelude_line(k, n) for i in self.inputs for k, n in enumerate(i.prelude))
        return prelude + b"".join(i.data for i in self.inputs)


PACED_MARKER = b'\n{"id":"fuzz-after","type":"hello"}\n'  # (the newline first ends whatever came before)


def make_item(seed, space, n, ctx):
    rng = random.Random(f"{seed}/{space}/{n}")
    tag = f"fuzz-{space}{n}"
    ref = f"{space}:{n}"
    if space == "f":
        if rng.random() < 0.12:
            # Short: a batch's sync hellos count against the message budget too.
            gens = [rng.choice(BATCHABLE) for _ in range(rng.randint(2, 3))]
            inputs = [make_input(ctx, g, rng, f"{tag}-{i}") for i, g in enumerate(gens)]
            return Item(ref, "batch", gens, inputs, "batch")
        gen = rng.choice(GENERATORS)
        item = make_input(ctx, gen, rng, tag)
        mode = item.mode or rng.choice(("shut",) * 17 + ("close", "close", "rst"))
        return Item(ref, "single", [gen], [item], mode)
    if space == "h":
        gen = rng.choice(HOSTILE)
        return Item(ref, "hostile", [gen], [make_input(ctx, gen, rng, tag)], "hostile")
    if space == "w":
        gen = rng.choice(GENERATORS)
        return Item(ref, "wait", [gen], [make_input(ctx, gen, rng, tag)], "wait")
    gen = rng.choice(BATCHABLE)
    item = make_input(ctx, gen, rng, tag)
    if rng.random() < 0.5:
        # Paced: a few pieces with pauses between them, then the half-close. Cut mostly right
        # after a '}', where a 1.3.3 message may look complete: its parse is then put off until
        # the pause (the deferred parse of §2), and a read boundary decides v1 or legacy.
        data = item.data
        after_brace = [i + 1 for i, c in enumerate(data[:-1]) if c == 0x7D]
        cuts = set()
        for _ in range(rng.randint(1, 3)):
            if after_brace and rng.random() < 0.7:
                cuts.add(rng.choice(after_brace))
            elif len(data) > 1:
                cuts.add(rng.randrange(1, len(data)))
        cuts = sorted(cuts)
        it = Item(ref, "paced", [gen], [item], "paced")
        # Last, a plain hello: answered only if the connection is still open, so a connection the
        # server should have closed (after a refusal, a framing error) shows.
        it.pieces = [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])] + [PACED_MARKER]
        return it
    # One byte a second (the case asked for); faster; slower than the idle limit (each byte starts
    # a partial message that expires); just under it (a partial kept alive until the auth deadline).
    interval = rng.choice((1.0, 1.0, 0.25, ctx.idle_timeout * 1.3, ctx.idle_timeout * 0.8))
    it = Item(ref, "slow", [gen], [item], "slow")
    it.interval = interval
    return it
