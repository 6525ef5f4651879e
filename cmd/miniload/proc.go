package main

import (
	"fmt"
	"math"
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

// commCPU is the CPU seconds used so far by each process whose command
// name is one of names (Postgres's backends, redis-server), by pid.
func commCPU(names ...string) map[int]procCPU {
	out := map[int]procCPU{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil {
			continue
		}
		name := strings.TrimSpace(string(comm))
		for _, n := range names {
			if name == n {
				if c, err := cpuSeconds(pid); err == nil {
					out[pid] = procCPU{n, c}
				}
			}
		}
	}
	return out
}

type procCPU struct {
	name    string
	seconds float64
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
	comm0         map[int]procCPU
}

// services are the processes of the system besides the servers, by
// command name.
var services = []string{"postgres", "redis-server", "wxfake"}

func watch(pids []int) *procUsage {
	u := &procUsage{pids: pids, start: make([]float64, len(pids)), peak: make([]float64, len(pids)), t0: time.Now(), stop: make(chan struct{})}
	for i, p := range pids {
		u.start[i], _ = cpuSeconds(p)
	}
	u.busy0, u.total0 = machineTicks()
	u.comm0 = commCPU(services...)
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

// serviceCores is how many cores each of services used since watch.
func (u *procUsage) serviceCores() map[string]float64 {
	// Per process, so one that exits meanwhile does not subtract what it
	// had used before (its share of the run is lost: a small undercount).
	wall := time.Since(u.t0).Seconds()
	used := map[string]float64{}
	for pid, now := range commCPU(services...) {
		used[now.name] += now.seconds - u.comm0[pid].seconds
	}
	out := map[string]float64{}
	for n, c := range used {
		out[n] = math.Round(c/wall*100) / 100
	}
	return out
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
