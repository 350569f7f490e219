package main

// Internal tuning: knobs that Herald's own process tests and benchmarks
// turn, read from the environment only by a herald binary built with the
// heraldtest build tag (as the process tests and herald-bench build it).
// They are not part of the configuration users are offered (no flag, not in the README): the
// defaults are what production wants, and the tests need seconds where
// production wants minutes (how long a delivery may stay in flight before
// its worker is presumed dead, how long a greylisted batch waits).
const (
	envTestRetryDelay = "HERALD_TEST_RETRY_DELAY" // every task retry waits this long
	envTestSweepEvery = "HERALD_TEST_SWEEP_EVERY" // campaign sweep period
	envTestStaleAfter = "HERALD_TEST_STALE_AFTER" // in-flight age at which a delivery becomes unknown
	envTestClaimSize  = "HERALD_TEST_CLAIM_SIZE"  // deliveries claimed at once
	// A CPU profile of the process from SIGUSR1 to SIGUSR2, written to
	// this file (renamed into place once complete): herald-bench profiles
	// a send with it.
	envTestCPUProfile = "HERALD_TEST_CPU_PROFILE"
)
