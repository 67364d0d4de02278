"""DARTS-style cell spaces: ops, the batched supernet, genotypes, decoding rules, discrete networks, drawings,
published genotypes and NAS-Bench-201 ground truth."""
