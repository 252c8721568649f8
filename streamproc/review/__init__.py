"""The reviewers' side of the review queue: claim with a lease, decide, keep labels, export them."""
