"""What a bundle may carry, judged from its manifest alone (fatectl.bundle.verify._policy_problems).

test_tamper.py builds real bundles that break these rules one at a time and checks `verify` names the
member; here every rule's exact problem, and what must pass: a party bundle with that party's own
secrets, a secrets/ file that belongs to no party, a file merely named like a CA key elsewhere.
"""

from __future__ import annotations

from fatectl.bundle.manifest import FileEntry, Manifest
from fatectl.bundle.verify import _policy_problems
from fatectl.errors import Problem

ANY = FileEntry("0" * 64, 1)


def _manifest(party: int | None, *names: str) -> Manifest:
    return Manifest("lab", party, "1", "1", {name: ANY for name in names}, ())


def test_a_ca_key_never_travels_wherever_it_is() -> None:
    problems = _policy_problems(
        _manifest(9999, "secrets/ca.key", "charts/x/ca.key", "secrets/bank-a/ca.key.pub")
    )
    assert problems == [
        Problem("a CA private key must never travel in a bundle", path="secrets/ca.key"),
        Problem("a CA private key must never travel in a bundle", path="charts/x/ca.key"),
    ]


def test_a_party_bundle_carries_one_partys_secrets_and_a_whole_federation_bundle_none() -> None:
    own = _manifest(
        9999, "secrets/bank-a/tls.key", "secrets/bank-a/flow_token", "secrets/README", "images/x.tar"
    )
    assert _policy_problems(own) == []
    several = _manifest(9999, "secrets/bank-a/tls.key", "secrets/bank-b/tls.key")
    assert _policy_problems(several) == [
        Problem("a party bundle carries secrets of several parties: ['bank-a', 'bank-b']", path="secrets/")
    ]
    whole = _manifest(None, "secrets/bank-a/tls.key", "charts/fate/values.yaml")
    assert _policy_problems(whole) == [
        Problem("a whole-federation bundle carries secrets of ['bank-a']", path="secrets/")
    ]
    assert _policy_problems(_manifest(None, "charts/fate/values.yaml", "secrets/README")) == []
