"""`make bench`: Flare measured against its ceilings and a peer, side by side, in one run."""
