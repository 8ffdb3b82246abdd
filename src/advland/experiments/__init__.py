"""Paper-reproduction recipes (`advland reproduce`) and the paper's items as data."""
