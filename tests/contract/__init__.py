"""One Store contract suite, run against every backend."""
