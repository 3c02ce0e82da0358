"""Business rules: pure functions from canonical values to findings. No I/O beyond code lists."""
