//go:build !linux

package main

import "os/exec"

// The driver measures memory through /proc, so outside Linux those figures
// read as unknown (-1) and the rest of the run still works.

func bindToDriver(*exec.Cmd)         {}
func procStatusKB(int, string) int64 { return -1 }
func resetPeakRSS(int) bool          { return false }
func cpuModel() string               { return "unknown" }
func loadAverage() string            { return "unknown" }
func cpuTicks(int) int64             { return -1 }
