"""verirag eval package (built in later issues)."""
