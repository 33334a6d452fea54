//go:build !race

package rangeio

func raceEnabled() bool { return false }
