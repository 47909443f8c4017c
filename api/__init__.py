"""verirag api package (built in later issues)."""
