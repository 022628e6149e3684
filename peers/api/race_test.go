//go:build race

package api

// raceEnabled: the race detector's sync.Pool drops items at random, so
// counting a request's allocations says nothing under it.
const raceEnabled = true
