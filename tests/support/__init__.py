"""What tests of every layer share: GitHub runner files, AWS stand-ins (more to come, #19)."""
