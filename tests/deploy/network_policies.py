"""What the rendered NetworkPolicies let through, evaluated as Kubernetes does for the selectors
the manifests use (matchLabels only): a pod that a policy of a direction selects gets only what
one of those policies allows in that direction. A peer is (its namespace's labels, its labels)."""

from typing import Any

Objects = list[dict[str, Any]]
Peer = tuple[dict[str, str], dict[str, str]]
OWN_NAMESPACE = {"kubernetes.io/metadata.name": "carepath"}

# Who a CarePath pod talks to, as the policies name them
POSTGRES: Peer = (
    {"kubernetes.io/metadata.name": "carepath-data"},
    {"app.kubernetes.io/name": "postgresql"},
)
DNS: Peer = ({"kubernetes.io/metadata.name": "kube-system"}, {"k8s-app": "kube-dns"})
KAFKA: Peer = (
    {"kubernetes.io/metadata.name": "kafka"},
    {"strimzi.io/cluster": "carepath", "strimzi.io/kind": "Kafka"},
)
KEY_SERVICE: Peer = (
    OWN_NAMESPACE,
    {"app.kubernetes.io/name": "intake", "app.kubernetes.io/part-of": "carepath"},
)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels"}, f"not evaluated here: {selector}"
    return dict(selector.get("matchLabels", {})).items() <= labels.items()


def admits_peer(peer: dict[str, Any], other: Peer) -> bool:
    """Whether a policy rule's peer (`from` or `to`) is the pod `other`."""
    namespace, pod = other
    if "ipBlock" in peer:
        return False  # the pods' addresses are not known here
    if "namespaceSelector" in peer:
        same_namespace = selects(peer["namespaceSelector"], namespace)
    else:
        same_namespace = namespace == OWN_NAMESPACE
    return same_namespace and selects(peer.get("podSelector", {}), pod)


def _allows(policies: Objects, pod: dict[str, str], direction: str, port: int, other: Peer) -> bool:
    kind, peers = ("Ingress", "from") if direction == "ingress" else ("Egress", "to")
    selecting = [
        policy["spec"]
        for policy in policies
        if kind in policy["spec"]["policyTypes"] and selects(policy["spec"]["podSelector"], pod)
    ]
    return not selecting or any(
        (not rule.get("ports") or any(p.get("port", port) in (port, "http") for p in rule["ports"]))
        and (not rule.get(peers) or any(admits_peer(peer, other) for peer in rule[peers]))
        for spec in selecting
        for rule in spec.get(direction, [])
    )


def admits(policies: Objects, pod: dict[str, str], port: int, source: Peer) -> bool:
    """Whether `source` may open `port` of a pod with the labels `pod`."""
    return _allows(policies, pod, "ingress", port, source)


def lets_out(policies: Objects, pod: dict[str, str], port: int, destination: Peer) -> bool:
    """Whether a pod with the labels `pod` may open `port` of `destination`."""
    return _allows(policies, pod, "egress", port, destination)
