"""A small vectorized stratified permuted-block randomizer (private to the generator).

The full schedule machinery (seeds per stratum, hashes, verification) is
:func:`trialkit.randomization.generate_schedule`'s job; the generator only needs arms for the
patients it randomizes, fast, from the protocol's ratio and block sizes.
"""

from __future__ import annotations

import numpy as np

from ..errors import ProtocolError


def permuted_blocks(stratum: np.ndarray, *, ratio: dict[str, int], block_sizes: tuple[int, ...],
                    rng: np.random.Generator) -> np.ndarray:
    """Arm codes for patients in randomization order, by stratified permuted blocks.

    Parameters
    ----------
    stratum : array of int
        Stratum number of each patient (0 … S-1), patients in order of randomization.
    ratio : dict
        Arm code -> integer share (``Protocol.ratio``).
    block_sizes : tuple of int
        Block sizes drawn with equal probability for each new block; each must be a multiple of the
        ratio's minimal block (3 for 2:1).

    Returns
    -------
    numpy.ndarray of object
        The arm of each patient.
    """
    stratum = np.asarray(stratum, dtype=np.int64)
    arms = np.asarray(list(ratio), dtype=object)
    shares = np.asarray(list(ratio.values()), dtype=np.int64)
    g = np.gcd.reduce(shares)
    shares = shares // g
    minimal = int(shares.sum())
    sizes = np.unique(np.asarray(block_sizes or (minimal,), dtype=np.int64))
    if (sizes % minimal).any() or (sizes <= 0).any():
        raise ProtocolError(f"block sizes {tuple(int(s) for s in sizes)} must be positive multiples of "
                            f"{minimal}, the smallest block that realizes the ratio {ratio}; fix "
                            "`randomization: block_sizes:` in the protocol file.")
    n = len(stratum)
    if n == 0:
        return np.empty(0, dtype=object)
    n_strata = int(stratum.max()) + 1
    per = np.bincount(stratum, minlength=n_strata)
    max_blocks = -(-per // sizes.min())
    blk_stratum = np.repeat(np.arange(n_strata), max_blocks)
    blk_size = sizes[rng.integers(0, len(sizes), size=len(blk_stratum))]
    cum = np.cumsum(blk_size)
    first_blk = np.concatenate([[0], np.cumsum(max_blocks)[:-1]])
    offset = np.concatenate([[0], cum])[first_blk]
    start_in_stratum = cum - blk_size - offset[blk_stratum]
    keep = start_in_stratum < per[blk_stratum]
    blk_stratum, blk_size = blk_stratum[keep], blk_size[keep]
    # slot templates: one row per block size, arm index of each position before permutation
    width = int(sizes.max())
    template = np.zeros((len(sizes), width), dtype=np.int64)
    for i, b in enumerate(sizes):
        template[i, :b] = np.repeat(np.arange(len(arms)), shares * (b // minimal))
    size_row = np.searchsorted(sizes, blk_size)
    slot_block = np.repeat(np.arange(len(blk_size)), blk_size)
    block_start = np.concatenate([[0], np.cumsum(blk_size)[:-1]])
    pos = np.arange(len(slot_block)) - block_start[slot_block]
    slot_arm = template[size_row[slot_block], pos]
    order = np.lexsort((rng.random(len(slot_block)), slot_block))  # permute within each block
    slot_arm = slot_arm[order]
    slot_stratum = blk_stratum[slot_block]
    stratum_start = np.searchsorted(slot_stratum, np.arange(n_strata))
    # rank of each patient within its stratum, in randomization order
    by = np.argsort(stratum, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[by] = np.arange(n) - np.searchsorted(stratum[by], stratum[by])
    return arms[slot_arm[stratum_start[stratum] + rank]]
