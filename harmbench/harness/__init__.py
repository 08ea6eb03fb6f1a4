"""The evaluation harness: fit -> harmonize -> score units, cached and resumable."""
