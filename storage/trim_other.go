//go:build !linux

package storage

// pageOutMappings does nothing off Linux (the dev machine's macOS).
func pageOutMappings(string) (int, error) { return 0, nil }
