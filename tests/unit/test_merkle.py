"""Merkle trees (RFC 9162 shape): roots and audit paths against a straightforward recursive
implementation of the RFC's definitions, the Certificate Transparency test vectors, and proofs
that refuse every kind of tampering."""

from __future__ import annotations

import hashlib
import random

import pytest

from gateway.domain.merkle import (
    LeafHashes,
    MerkleTree,
    leaf_hash,
    node_hash,
    root_from_path,
    verify_inclusion,
)


def _h(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, recursively, straight from the definition."""
    if len(leaves) == 1:
        return _h(b"\x00" + leaves[0])
    k = _split(len(leaves))
    return _h(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:]))


def _path(m: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]), recursively."""
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k]), _mth(leaves[k:])]
    return [*_path(m - k, leaves[k:]), _mth(leaves[:k])]


# Certificate Transparency's reference vectors (merkle_tree_test): the first n of these leaves.
CT_LEAVES = [
    bytes.fromhex(x)
    for x in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
CT_ROOTS = [
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]


def _tree(leaves: list[bytes]) -> MerkleTree:
    return MerkleTree([leaf_hash(d) for d in leaves])


def _leaves(n: int, seed: int = 0) -> list[bytes]:
    rng = random.Random(seed)
    return [rng.randbytes(rng.randrange(0, 40)) for _ in range(n)]


def test_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"x") == _h(b"\x00x")
    assert node_hash(b"a" * 32, b"b" * 32) == _h(b"\x01" + b"a" * 32 + b"b" * 32)


@pytest.mark.parametrize("n", range(1, 9))
def test_roots_are_the_certificate_transparency_vectors(n: int) -> None:
    assert _tree(CT_LEAVES[:n]).root.hex() == CT_ROOTS[n - 1]


@pytest.mark.parametrize("n", range(1, 10))
def test_root_and_every_audit_path_match_the_rfc_definitions(n: int) -> None:
    leaves = _leaves(n, seed=n)
    tree = _tree(leaves)
    assert tree.size == n
    assert tree.root == _mth(leaves)
    for m in range(n):
        assert tree.audit_path(m) == _path(m, leaves)
        assert verify_inclusion(leaf_hash(leaves[m]), m, n, tree.audit_path(m), tree.root)


def test_one_leaf_is_its_own_root_with_an_empty_path() -> None:
    tree = _tree([b"only"])
    assert tree.root == leaf_hash(b"only")
    assert tree.audit_path(0) == []
    assert root_from_path(leaf_hash(b"only"), 0, 1, []) == tree.root


@pytest.mark.parametrize("seed", range(6))
def test_proofs_of_every_leaf_of_random_sizes_verify(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(1, 600)
    leaves = _leaves(n, seed)
    tree = _tree(leaves)
    assert tree.root == _mth(leaves)
    for m in range(n):
        assert root_from_path(leaf_hash(leaves[m]), m, n, tree.audit_path(m)) == tree.root


@pytest.mark.parametrize("n", [1, 2, 3, 7, 100])
def test_packed_leaf_hashes_make_the_same_tree(n: int) -> None:
    hashes = [leaf_hash(leaf) for leaf in _leaves(n, seed=n)]
    packed = LeafHashes()
    for h in hashes:
        packed.append(h)
    assert (len(packed), list(packed), packed[-1], packed[1:3]) == (
        n,
        hashes,
        hashes[-1],
        hashes[1:3],
    )
    with pytest.raises(IndexError):
        packed[n]
    with pytest.raises(ValueError, match="32 bytes"):
        packed.append(b"short")
    tree, plain = MerkleTree(packed), MerkleTree(hashes)
    assert (tree.size, tree.root) == (plain.size, plain.root)
    assert [tree.audit_path(m) for m in range(n)] == [plain.audit_path(m) for m in range(n)]


def test_a_tree_needs_a_leaf_and_paths_exist_only_for_its_leaves() -> None:
    with pytest.raises(ValueError, match="at least one leaf"):
        MerkleTree([])
    with pytest.raises(ValueError, match="32 bytes"):
        MerkleTree([b"not a hash"])
    tree = _tree(_leaves(3))
    with pytest.raises(IndexError):
        tree.audit_path(3)
    with pytest.raises(IndexError):
        tree.audit_path(-1)


@pytest.mark.parametrize("n", [2, 3, 5, 7, 8, 9, 13, 64, 100])
def test_every_tampering_of_a_proof_is_refused(n: int) -> None:
    leaves = _leaves(n, seed=100 + n)
    tree = _tree(leaves)
    root = tree.root
    for m in range(n):
        leaf, path = leaf_hash(leaves[m]), tree.audit_path(m)
        assert verify_inclusion(leaf, m, n, path, root)
        # another leaf, a changed leaf
        assert not verify_inclusion(leaf_hash(leaves[m] + b"!"), m, n, path, root)
        assert not verify_inclusion(leaf_hash(leaves[(m + 1) % n]), m, n, path, root)
        # another index, inside or outside the tree
        for other in {m - 1, m + 1, n, n + 5, -1} - {m}:
            assert not verify_inclusion(leaf, other, n, path, root)
        # a tree too small for the index; (a path can fit trees of other sizes too, e.g. leaf 0
        # of 3 and of 4 leaves: the signed root statement names the size, test_dsse checks it)
        for size in range(m + 1):
            assert root_from_path(leaf, m, size, path) is None
        # each path hash changed, the path cut, lengthened, reversed
        for i in range(len(path)):
            bad = list(path)
            bad[i] = bytes([bad[i][0] ^ 1]) + bad[i][1:]
            assert not verify_inclusion(leaf, m, n, bad, root)
        assert not verify_inclusion(leaf, m, n, path[:-1], root)
        assert not verify_inclusion(leaf, m, n, [*path, root], root)
        if len(path) > 1 and path != path[::-1]:
            assert not verify_inclusion(leaf, m, n, path[::-1], root)
        # a path hash of the wrong length
        assert root_from_path(leaf, m, n, [p + b"\x00" for p in path] or [b"short"]) is None
    # another root
    assert not verify_inclusion(leaf_hash(leaves[0]), 0, n, tree.audit_path(0), _mth(leaves[1:]))


def test_an_interior_node_cannot_pass_for_a_leaf() -> None:
    leaves = _leaves(4, seed=9)
    tree = _tree(leaves)
    left = node_hash(leaf_hash(leaves[0]), leaf_hash(leaves[1]))
    right = tree.audit_path(0)[1]
    assert verify_inclusion(left, 0, 2, [right], tree.root)  # as a node of a 2-leaf view...
    # ...but its preimage presented as leaf data hashes with 0x00, not 0x01: refused
    forged = leaf_hash(leaf_hash(leaves[0]) + leaf_hash(leaves[1]))
    assert not verify_inclusion(forged, 0, 2, [right], tree.root)
