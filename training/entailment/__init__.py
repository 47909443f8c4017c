"""Training recipe of the verifier's entailment model (see README.md beside this file)."""
