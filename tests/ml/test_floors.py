"""A party's own security floors and the joint batch seed: no peer's word sets what protects our data.

Keys: max(job, policy.min_key_bits), insecure only where the party's policy allows; a peer's key
under that floor is refused. Batches: none under policy.min_batch_size, and their rows come from
a seed both sides contribute to, so a guest can neither ask for one-row batches nor pick rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from fate.federation.memory import MemoryHub
from fate.flow.policy import Policy
from fate.ml.component import ComponentError
from fate.ml.joint_batches import SEED_BYTES, agree_guest, agree_host, batch_order, commitment, joint_seed
from fate.ml.lr_floors import batch_sizes, check_batch_floor, secure_params
from fate.ml.lr_params import parse_params
from tests.ml.conftest import Breast
from tests.ml.federated import HOSTS, LAB, federations, run_threads, train_and_predict
from tests.ml.test_plain_lr import FLOW_TEST
from tests.ml.test_wire_privacy import capture

HOST = HOSTS[0]


def _params(bits: int = 512, **extra: Any) -> Any:
    return parse_params({**FLOW_TEST, "max_iter": 1, "encrypt_param": {"key_length": bits}, "insecure_key": True,
                         **extra})


def test_the_job_cannot_lower_a_partys_key_floor() -> None:
    asked = _params(bits=256)
    secure = secure_params(asked, Policy())
    assert (secure.key_length, secure.insecure_key) == (2048, False)
    assert secure_params(asked, LAB) == asked  # a test lab's policy allows it
    assert secure_params(_params(bits=2048), Policy(min_key_bits=2500)).key_length == 3072
    assert secure_params(_params(bits=256), Policy(min_key_bits=1000, allow_insecure_keys=True)).key_length == 1024


def test_a_floor_is_met_by_the_smallest_key_at_least_as_long_and_the_change_is_logged() -> None:
    def lab(floor: int) -> Policy:
        return Policy(min_key_bits=floor, allow_insecure_keys=True)

    # Insecure (labs only): a multiple of 256 bits, never under the floor; at and over 2048 a supported size.
    for floor, bits in ((256, 256), (257, 512), (513, 768), (2047, 2048), (2048, 2048), (2049, 3072), (3073, 4096)):
        assert secure_params(_params(bits=256), lab(floor)).key_length == bits
    with pytest.raises(ComponentError, match=r"^a 4097-bit Paillier key is required, beyond the largest supported \(4096\)$"):
        secure_params(_params(bits=256), lab(4097))
    logged: list[str] = []
    secure_params(_params(bits=512), lab(256), logged.append)  # nothing changed: nothing to say
    secure_params(_params(bits=512), lab(1024), logged.append)  # the key only
    secure_params(_params(bits=2048), Policy(), logged.append)  # insecure_key only
    secure_params(_params(bits=4096, insecure_key=False), Policy(min_key_bits=3072), logged.append)
    assert logged == [
        "hetero_lr: the job asks for 512-bit keys (insecure_key True); this party's policy makes it 1024 bits "
        "(insecure_key True)",
        "hetero_lr: the job asks for 2048-bit keys (insecure_key True); this party's policy makes it 2048 bits "
        "(insecure_key False)",
    ]


@pytest.mark.parametrize("free", [False, True], ids=["arbiter", "arbiter-free"])
def test_a_key_under_my_floor_is_refused(breast: Breast, free: bool) -> None:
    """The job asks for 512 bits; the host's policy says 1024: it will not encrypt under a 512-bit key."""
    strict = Policy(min_key_bits=1024, allow_insecure_keys=True)
    whose = "the guest's" if free else "the arbiter's"
    with pytest.raises(AssertionError, match=f"{whose} Paillier public key has 512 bits, under this party's floor "
                                             "of 1024"):
        train_and_predict(breast.ids, [breast.guest, breast.host], breast.labels, _params(), free=free,
                          policies={"host0": strict}, timeout=20)


def test_a_peers_insecure_key_request_does_not_bind_a_secure_party(breast: Breast) -> None:
    """A job file asking for insecure_key with 256 bits: the host keeps its 2048-bit floor and refuses the guest's key."""
    with pytest.raises(AssertionError, match="the guest's Paillier public key is refused: a 256-bit Paillier key is "
                                             "insecure"):
        train_and_predict(breast.ids, [breast.guest, breast.host], breast.labels, _params(bits=256), free=True,
                          policies={"host0": Policy()}, timeout=30)


def test_tails_join_the_last_batch() -> None:
    assert batch_sizes(569, 200) == [200, 369]
    assert batch_sizes(569, 568) == [569]  # not [568, 1]: N - 1 cannot make a one-row batch
    assert batch_sizes(569, -1) == batch_sizes(569, 5000) == [569]
    assert batch_sizes(64, 32) == [32, 32]
    assert batch_sizes(1, -1) == [1]
    with pytest.raises(ComponentError, match="^hetero_lr needs at least one row$"):
        batch_sizes(0, -1)


def test_the_batch_floors_refusal_says_why() -> None:
    with pytest.raises(ComponentError) as err:
        check_batch_floor(100, 8, Policy())
    assert str(err.value) == (
        "batches of 8 rows is under this party's floor of 32 rows per batch (policy.min_batch_size): "
        "a gradient over so few rows gives away single rows; refusing to train"
    )


@pytest.mark.parametrize("free", [False, True], ids=["arbiter", "arbiter-free"])
@pytest.mark.parametrize("batch_size", [1, 31])
def test_host_refuses_batches_under_its_floor_before_sending_anything(breast: Breast, free: bool,
                                                                       batch_size: int) -> None:
    """The guest lowers its own floor and asks for small batches; the host's floor of 32 holds."""
    seen, record = capture()
    careless = Policy(min_key_bits=256, allow_insecure_keys=True, min_batch_size=1, trusted_arbiters=LAB.trusted_arbiters)
    with pytest.raises(AssertionError, match=f"batches of {batch_size} rows is under this party's floor of 32"):
        train_and_predict(breast.ids, [breast.guest, breast.host], breast.labels, _params(batch_size=batch_size),
                          on_wire=record, free=free, policies={"guest": careless, "arbiter": careless}, timeout=20)
    assert not [m for m in seen if m.src == HOST]


def test_a_full_batch_under_the_floor_is_refused_too(breast: Breast) -> None:
    ids = breast.ids[:20]
    with pytest.raises(AssertionError, match="the full batch is under this party's floor of 32"):
        train_and_predict(ids, [breast.guest[:20], breast.host[:20]], breast.labels[:20], _params(), free=True,
                          timeout=20)


def _host_agreement(ids: list[str], guest_seed: bytes, reveal: bytes | None = None) -> tuple[bytes, Any]:
    """A scripted guest against a real host: commit to guest_seed, reveal `reveal` (default: the same)."""
    feds = federations(MemoryHub(), 1, timeout=20)
    guest = feds["guest"]
    guest.remote({"ids": ids, "commit": commitment(guest_seed)}, "lr.rows", "host")

    def script() -> bytes:
        host_seed: bytes = guest.get("lr.seed", "host")
        guest.remote({"guest": guest_seed if reveal is None else reveal, "hosts": [host_seed]}, "lr.seed_reveal",
                     "host")
        return host_seed

    out = run_threads({"guest": script, "host": lambda: agree_host(feds["host0"], "lr", 32, LAB)})
    return out["guest"], out["host"]


def test_the_guest_cannot_pick_the_rows_of_a_batch(breast: Breast) -> None:
    ids = list(breast.ids)
    seed = b"\x07" * SEED_BYTES
    # The same guest seed twice: the host's fresh seed decides the order as much as the guest's.
    (h1, (_, b1)), (h2, (_, b2)) = _host_agreement(ids, seed), _host_agreement(ids, seed)
    assert h1 != h2 and not np.array_equal(b1[0], b2[0])
    # The host computed the batches itself, from both seeds.
    for host_seed, batches in ((h1, b1), (h2, b2)):
        expected = batch_order(ids, joint_seed([seed, host_seed]), 32)
        assert all(np.array_equal(a, b) for a, b in zip(batches, expected, strict=True))
    # A guest that sees the host's seed and then reveals another seed of its choice is caught.
    with pytest.raises(AssertionError, match="does not match its commitment"):
        _host_agreement(ids, seed, reveal=b"\x08" * SEED_BYTES)


def test_repeated_ids_cannot_pad_a_batch_with_one_row(breast: Breast) -> None:
    feds = federations(MemoryHub(), 1, timeout=5)
    feds["guest"].remote({"ids": [breast.ids[0]] * 32, "commit": commitment(b"\x00" * SEED_BYTES)}, "lr.rows", "host")
    with pytest.raises(ComponentError, match="repeat an id"):
        agree_host(feds["host0"], "lr", -1, LAB)


def test_the_order_depends_on_the_ids_and_seeds_only() -> None:
    ids = [f"id{i}" for i in range(100)]
    joint = joint_seed([b"\x01" * SEED_BYTES, b"\x02" * SEED_BYTES])
    forward = batch_order(ids, joint, 32)
    backward = batch_order(ids[::-1], joint, 32)
    assert [[ids[i] for i in b] for b in forward] == [[ids[::-1][i] for i in b] for b in backward]
    assert [len(b) for b in forward] == [32, 32, 36]


def test_several_hosts_commit_first_and_agree_on_one_order(breast: Breast) -> None:
    """With two hosts each commits before any seed is revealed, so a host colluding with the guest cannot
    choose its seed after seeing the other's; every party computes the same batches."""
    seen, record = capture()
    feds = federations(MemoryHub(), 2, on_wire=record, timeout=20)
    jobs = {"guest": lambda: agree_guest(feds["guest"], "lr", breast.ids, 100, LAB)}
    jobs.update({f"host{i}": (lambda fed=feds[f"host{i}"]: agree_host(fed, "lr", 100, LAB)[1]) for i in range(2)})
    out = run_threads(jobs)  # type: ignore[arg-type]
    for host in ("host0", "host1"):
        assert all(np.array_equal(a, b) for a, b in zip(out["guest"], out[host], strict=True))
    kinds = [m.tag.split("|")[0].rsplit(".", 1)[-1] for m in seen]
    # Every host commitment is sent before any host seed.
    assert max(i for i, k in enumerate(kinds) if k == "seed_commit") < min(i for i, k in enumerate(kinds) if k == "seed")


def test_a_host_refuses_a_guest_that_swaps_its_commitment(breast: Breast) -> None:
    feds = federations(MemoryHub(), 2, timeout=20)
    guest = feds["guest"]
    guest.remote({"ids": list(breast.ids), "commit": commitment(b"\x00" * SEED_BYTES)}, "lr.rows", "host")

    def script() -> None:
        guest.get("lr.seed_commit", "host", HOSTS[0])
        # Host 0 is shown a commitment other than its own (e.g. to a seed its colluder picked later).
        fake = [commitment(b"\x09" * SEED_BYTES), commitment(b"\x0a" * SEED_BYTES)]
        guest.remote(fake, "lr.seed_commits", "host", [HOSTS[0]])

    with pytest.raises(AssertionError, match="altered this party's seed commitment"):
        run_threads({"guest": script, "host": lambda: agree_host(feds["host0"], "lr", -1, LAB)})


def _scripted_hosts(feds: dict[str, Any], commits: list[bytes], reveals: list[object]) -> dict[str, Any]:
    """Hosts that commit to `commits`' seeds and then send `reveals` as their seeds, whatever they committed to."""

    def host(i: int) -> None:
        fed = feds[f"host{i}"]
        fed.get("lr.rows", "guest")
        fed.remote(commitment(commits[i]), "lr.seed_commit", "guest")
        fed.get("lr.seed_commits", "guest")
        fed.remote(reveals[i], "lr.seed", "guest")

    return {f"host{i}": (lambda i=i: host(i)) for i in range(len(commits))}


@pytest.mark.parametrize(
    ("reveal", "refusal"),
    [
        (b"\x09" * SEED_BYTES, f"host {HOSTS[1]}'s batch seed does not match its commitment"),
        (b"\x08", f"host {HOSTS[1]}'s batch seed is not a 32-byte value; refusing the batch agreement"),
        ("\x08" * SEED_BYTES, f"host {HOSTS[1]}'s batch seed is not a 32-byte value; refusing the batch agreement"),
    ],
    ids=["another-seed", "too-short", "text"],
)
def test_the_guest_refuses_a_host_seed_it_was_not_committed_to(breast: Breast, reveal: object, refusal: str) -> None:
    """A host choosing its seed after seeing the other host's commitment (or sending no 32-byte seed) is caught
    by the guest before any batch is drawn."""
    feds = federations(MemoryHub(), 2, timeout=20)
    seeds = [b"\x01" * SEED_BYTES, b"\x02" * SEED_BYTES]
    jobs = {"guest": lambda: agree_guest(feds["guest"], "lr", breast.ids, 100, LAB),
            **_scripted_hosts(feds, seeds, [seeds[0], reveal])}
    with pytest.raises(AssertionError) as err:
        run_threads(jobs)  # type: ignore[arg-type]
    assert isinstance(err.value.__cause__, ComponentError) and str(err.value.__cause__) == refusal


def test_row_ids_must_be_a_list_of_distinct_texts_on_both_sides(breast: Breast) -> None:
    with pytest.raises(ComponentError, match="^the guest's table repeats a row id; hetero_lr needs unique ids$"):
        agree_guest(federations(MemoryHub(), 1, timeout=5)["guest"], "lr", [breast.ids[0]] * 40, -1, LAB)
    for ids, refusal in (("id0 id1", "the guest's row ids are malformed"), ([1, 2], "the guest's row ids are malformed"),
                         (["id0", "id0"], "the guest's row ids repeat an id; refusing to train")):
        feds = federations(MemoryHub(), 1, timeout=5)
        feds["guest"].remote({"ids": ids, "commit": commitment(b"\x00" * SEED_BYTES)}, "lr.rows", "host")
        with pytest.raises(ComponentError) as err:
            agree_host(feds["host0"], "lr", -1, LAB)
        assert str(err.value) == refusal


def test_the_guest_refuses_a_host_commitment_that_is_no_32_byte_value(breast: Breast) -> None:
    feds = federations(MemoryHub(), 2, timeout=20)

    def host(i: int) -> None:
        feds[f"host{i}"].get("lr.rows", "guest")
        feds[f"host{i}"].remote(commitment(b"\x01" * SEED_BYTES) if i == 0 else b"short", "lr.seed_commit", "guest")

    jobs = {"guest": lambda: agree_guest(feds["guest"], "lr", breast.ids, 100, LAB),
            "host0": lambda: host(0), "host1": lambda: host(1)}
    with pytest.raises(AssertionError) as err:
        run_threads(jobs)  # type: ignore[arg-type]
    assert str(err.value.__cause__) == f"host {HOSTS[1]}'s seed commitment is not a 32-byte value; refusing the batch agreement"


IDS = [f"id{i}" for i in range(64)]
GUEST_SEED = b"\x07" * SEED_BYTES
ROWS = {"ids": IDS, "commit": commitment(GUEST_SEED)}


def _host_refusal(hosts: int, rows: object, guest: Callable[[Any, bytes], None] | None = None) -> str:
    """What a real host (host0 of `hosts`) refuses when a scripted guest announces `rows` and then runs
    `guest(fed, host0's seed commitment or seed)`; the refusal's words."""
    feds = federations(MemoryHub(), hosts, timeout=20)
    feds["guest"].remote(rows, "lr.rows", "host")
    jobs: dict[str, Callable[[], Any]] = {"host": lambda: agree_host(feds["host0"], "lr", 32, LAB)}
    if guest is not None:
        tag = "lr.seed_commit" if hosts > 1 else "lr.seed"
        jobs["guest"] = lambda: guest(feds["guest"], feds["guest"].get(tag, "host", HOSTS[0]))
    with pytest.raises(AssertionError) as err:
        run_threads(jobs)
    assert isinstance(err.value.__cause__, ComponentError)
    return str(err.value.__cause__)


def _reveal(reveal: Callable[[bytes], object]) -> Callable[[Any, bytes], None]:
    return lambda fed, host_seed: fed.remote(reveal(host_seed), "lr.seed_reveal", "host")


def _commits(commits: object) -> Callable[[Any, bytes], None]:
    return lambda fed, _: fed.remote(commits, "lr.seed_commits", "host", [HOSTS[0]])


NOT_32 = "is not a 32-byte value; refusing the batch agreement"
OTHER = b"\x08" * SEED_BYTES


@pytest.mark.parametrize(
    ("hosts", "rows", "guest", "refusal"),
    [
        (1, ["id0"], None, "the guest's row announcement is malformed"),
        (1, {"ids": IDS, "commit": b"short"}, None, f"the guest's seed commitment {NOT_32}"),
        (1, ROWS, _reveal(lambda s: [GUEST_SEED, s]), "the guest's seed reveal is malformed"),
        (1, ROWS, _reveal(lambda s: {"guest": GUEST_SEED, "hosts": s}), "the guest's seed reveal is malformed"),
        (1, ROWS, _reveal(lambda s: {"guest": GUEST_SEED, "hosts": [s, s]}), "the guest's seed reveal is malformed"),
        (1, ROWS, _reveal(lambda s: {"guest": b"short", "hosts": [s]}), f"the guest's batch seed {NOT_32}"),
        (1, ROWS, _reveal(lambda s: {"guest": GUEST_SEED, "hosts": [b"short"]}), f"a host's batch seed {NOT_32}"),
        (1, ROWS, _reveal(lambda s: {"guest": OTHER, "hosts": [s]}),
         "the guest's batch seed does not match its commitment; refusing its batches"),
        # The one host's own seed replaced by one the guest picked after seeing it: the guest would choose the rows.
        (1, ROWS, _reveal(lambda s: {"guest": GUEST_SEED, "hosts": [OTHER]}),
         "the guest revealed host seeds that were not committed; refusing its batches"),
        (2, ROWS, _commits("all"), "the guest's list of seed commitments is malformed"),
        (2, ROWS, _commits([commitment(OTHER)]), "the guest's list of seed commitments is malformed"),
        (2, ROWS, _commits([b"short", b"short"]), f"a host's seed commitment {NOT_32}"),
        (2, ROWS, _commits([commitment(OTHER), commitment(OTHER)]), "the guest altered this party's seed commitment"),
    ],
    ids=["rows-not-a-map", "commit-short", "reveal-not-a-map", "reveal-hosts-not-a-list", "reveal-hosts-too-many",
         "guest-seed-short", "host-seed-short", "guest-seed-not-committed", "host-seed-replaced",
         "commits-not-a-list", "commits-too-few", "commits-short", "own-commit-altered"],
)
def test_a_host_refuses_every_malformed_or_uncommitted_step_of_the_guest(
    hosts: int, rows: object, guest: Callable[[Any, bytes], None] | None, refusal: str
) -> None:
    assert _host_refusal(hosts, rows, guest) == refusal
