"""Pretrained encoders (BEATs, EAT, CED) registered by name."""
