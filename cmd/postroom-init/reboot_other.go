//go:build !linux

package main

import "os"

func reboot() { os.Exit(1) }
