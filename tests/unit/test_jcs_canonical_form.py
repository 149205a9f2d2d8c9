"""The evidence digest's RFC 8785 canonical form: the fast path (the standard library's encoder
on plain numbers and ASCII keys) gives exactly the bytes of the `rfc8785` package, for any JSON
document, and what neither can represent fails closed."""

import math

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from carepath.chassis.evidence import UnknownDigest, jcs

numbers = st.one_of(
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e-4, max_value=1e16),  # the fast path's range, densely
    st.sampled_from([40.0, -0.0, 0.5, 1e-7, 1e16, 1e21, 0.1 + 0.2, 123456789012345680000.0]),
    # whole floats from 2**53 up to the fast path's limit: `repr` writes them with ".0"
    st.sampled_from([2.0**53, 9.1e15, 9999999999999998.0, -(2.0**53) - 2]),
    st.integers(min_value=2**53, max_value=10**16).map(float),
)
keys = st.one_of(st.text(max_size=8), st.sampled_from(["a", "b", "\ue000", "\U0001f600", "é"]))
scalars = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=12))
documents = st.dictionaries(
    keys,
    st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)
        ),
        max_leaves=20,
    ),
    max_size=8,
)


def surrogate_free(document: object) -> bool:
    try:
        rfc8785.dumps(document)
    except rfc8785.CanonicalizationError:
        return False
    return True


@given(documents)
def test_the_fast_path_and_rfc8785_give_the_same_bytes(document: dict) -> None:
    if surrogate_free(document):
        assert jcs(document) == rfc8785.dumps(document)
    else:
        with pytest.raises(UnknownDigest):
            jcs(document)


@pytest.mark.parametrize("value", [2**53, -(2**60), math.inf, math.nan, "\ud800"])
def test_what_rfc_8785_cannot_represent_fails_closed(value: object) -> None:
    with pytest.raises(UnknownDigest) as refused:
        jcs({"value": value})
    assert str(refused.value).startswith("not representable in jcs-sha256: ")  # no value
