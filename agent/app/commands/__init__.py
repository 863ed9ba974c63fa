"""Commands that are more than a call into the loop: ``bench`` (the HNS table) and ``evaluate`` (one reward file)."""
