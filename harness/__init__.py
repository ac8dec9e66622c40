"""What the tests and the benchmarks both use to run the real parts: the Pub/Sub emulator, the
services as OS processes, and one way to wait for a condition. Not shipped with the package."""
