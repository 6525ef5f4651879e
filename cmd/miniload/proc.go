package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// cpuSeconds is the user plus system CPU time a process has used.
func cpuSeconds(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces; the fields after it are fixed.
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / clockTicks, nil
}

// machineTicks are the busy and total CPU ticks of the whole machine
// (/proc/stat), for the share of every process: servers, Postgres, Redis,
// the fake and this load generator.
func machineTicks() (busy, total float64) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		if i < 8 { // user nice system idle iowait irq softirq steal
			total += n
			if i != 3 && i != 4 {
				busy += n
			}
		}
	}
	return busy, total
}

// rssMB is a process's resident set size in MiB.
func rssMB(pid int) (float64, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no VmRSS for %d", pid)
}

// procUsage watches processes through one run: CPU used (in cores, averaged
// over the run) and the largest RSS seen.
type procUsage struct {
	pids  []int
	start []float64
	t0    time.Time
	stop  chan struct{}
	done  sync.WaitGroup
	mu    sync.Mutex
	peak  []float64

	busy0, total0 float64
}

func watch(pids []int) *procUsage {
	u := &procUsage{pids: pids, start: make([]float64, len(pids)), peak: make([]float64, len(pids)), t0: time.Now(), stop: make(chan struct{})}
	for i, p := range pids {
		u.start[i], _ = cpuSeconds(p)
	}
	u.busy0, u.total0 = machineTicks()
	u.done.Add(1)
	go func() {
		defer u.done.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			u.sample()
			select {
			case <-t.C:
			case <-u.stop:
				return
			}
		}
	}()
	return u
}

func (u *procUsage) sample() {
	u.mu.Lock()
	defer u.mu.Unlock()
	for i, p := range u.pids {
		if mb, err := rssMB(p); err == nil && mb > u.peak[i] {
			u.peak[i] = mb
		}
	}
}

// machineCores is how many cores the whole machine kept busy since watch.
func (u *procUsage) machineCores() float64 {
	busy, total := machineTicks()
	if total <= u.total0 {
		return 0
	}
	return (busy - u.busy0) / (total - u.total0) * float64(runtime.NumCPU())
}

// end returns each process's cores used and peak RSS (MiB).
func (u *procUsage) end() (cores, rss []float64) {
	close(u.stop)
	u.done.Wait()
	u.sample()
	wall := time.Since(u.t0).Seconds()
	for i, p := range u.pids {
		now, _ := cpuSeconds(p)
		cores = append(cores, (now-u.start[i])/wall)
	}
	return cores, append([]float64(nil), u.peak...)
}
