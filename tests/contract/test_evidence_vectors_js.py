"""The published evidence test vectors (contracts/vectors/evidence-digests.json) are reproduced
by a verifier in another language: JavaScript, with an RFC 8785 library and node:crypto
(contracts/tools/cloudevents-read/verify.mjs), byte for byte, signature included."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from carepath.chassis.evidence import Verifier, digest, jcs
from carepath.contracts import CloudEvent

ROOT = Path(__file__).resolve().parents[2]
VECTORS_FILE = ROOT / "contracts" / "vectors" / "evidence-digests.json"
JS_TOOL = ROOT / "contracts" / "tools" / "cloudevents-read"

pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")


def test_javascript_reproduces_the_version_2_digest_and_signature() -> None:
    if not (JS_TOOL / "node_modules" / "canonicalize").is_dir():
        pytest.fail("run `make contracts-tools` (npm ci in contracts/tools/cloudevents-read)")
    vectors = json.loads(VECTORS_FILE.read_text())
    run = subprocess.run(
        ["node", "verify.mjs", "--vectors", str(VECTORS_FILE)],
        cwd=JS_TOOL,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = json.loads(run.stdout)
    legacy, current = found["events"]
    [v1, v2] = [CloudEvent.from_json(event["value"]) for event in vectors["events"]]

    assert (current["verified"], current.get("problem")) == (True, None)
    assert current["canonical"] == vectors["events"][1]["canonical"]  # the same bytes
    assert current["digest"] == digest(v2) == vectors["events"][1]["sha256"]
    assert current["prevhash"] == digest(v1)  # the chain from the version 1 event before
    assert Verifier({"session": vectors["public_key"]}).problem(v2) is None
    assert found["keyid"] == v2.keyid
    # version 1's digest is Python's own: another language is told, not misled
    assert legacy == {**legacy, "verified": False, "problem": "digestalg absent (version 1)"}
    edge = vectors["jcs_edge_cases"]
    assert found["jcs_edge_cases"]["canonical_hex"] == edge["canonical_hex"]
    assert jcs(json.loads(edge["input"])).hex() == edge["canonical_hex"]
