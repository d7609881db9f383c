"""Which parties' failures a job survives: clients of horizontal training that drop out.

In most jobs every party's part is needed, so one party's failure fails the job on every
party. Horizontal training (homo_lr, homo_nn) is built to lose clients: its aggregator
carries on with the survivors while the protocol allows (secure aggregation needs t clients
at every phase; fewer and the aggregator's own step fails). So when a party that holds only
client roles (guest, host) of a job made of such steps reports that it failed, the others
record the dropout and keep running; whether the training itself can go on is the
aggregator's decision, taken from the protocol state, and an aggregator that cannot go on
fails its step, which fails the job everywhere.

What a party cannot do with this: keep others running a job they should stop. A failure of
the aggregator's party, a stop, or a failure in any job with a step that needs every party
still ends the job on every party; the dropout of a client ends nothing but that client's
own part, which it could end anyway by going silent. Every party decides from the job spec
it agreed to (the same on every party), logs the dropout and writes it to its audit log.
"""

from __future__ import annotations

from fate.flow.jobspec import JobSpec

# Steps that go on without a client: the homo trainers (their aggregator drops clients that
# stop answering), and evaluation, which each party runs on its own outputs alone.
TOLERANT = frozenset({"homo_lr", "homo_nn", "evaluation"})
CLIENT_ROLES = frozenset({"guest", "host"})
TRAINERS = frozenset({"homo_lr", "homo_nn"})
DROPOUT_SOURCE = "dropout"  # the job-log source of a recorded dropout


def dropout_refused(spec: JobSpec, party: int) -> str:
    """Why `party`'s failure must fail the whole job ('' when the others go on without it)."""
    components = {step.component for step in spec.pipeline}
    if not components & TRAINERS:
        return "the job has no horizontal training step"
    needy = sorted(components - TOLERANT)
    if needy:
        return f"steps of components {needy} need every party"
    roles = set(spec.roles_of(party))
    if not roles or not roles <= CLIENT_ROLES:
        return f"party {party} holds roles {sorted(roles)}, not only client roles (guest, host)"
    return ""
