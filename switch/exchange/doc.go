// Package exchange runs a whole exchange: it connects to NATS or starts the
// embedded nats-server with the authorisation generated from the registry
// (package accounts), provisions the exchange's streams and the peers'
// consumers, compiles the registry and policies, runs the switch engine
// (package switch/engine), and swaps in a new configuration on SIGHUP or
// when the file changes.
//
// It may import the inner packages (cof, routing, policy, config, bus,
// accounts, switch/engine); nothing but the command and the benchmark
// imports it.
package exchange
