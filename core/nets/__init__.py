"""Networks and their training: FourDVarNet (ours and the reference), one training loop, model files."""
