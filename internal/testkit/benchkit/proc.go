package benchkit

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPUSeconds is this process's user and system CPU time.
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// RSSMB is this process's resident memory in MB.
func RSSMB() float64 { return rss("/proc/self/status") }

// ProcRSSMB is the resident memory of process pid in MB, 0 if unknown.
func ProcRSSMB(pid int) float64 { return rss(fmt.Sprintf("/proc/%d/status", pid)) }

func rss(path string) float64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			return kb / 1024
		}
	}
	return 0
}

// clockTicks is USER_HZ, which /proc/<pid>/stat counts in; it is 100 on
// every Linux architecture Go supports.
const clockTicks = 100

// ProcCPUSeconds is the user and system CPU time of process pid, read
// from /proc/<pid>/stat.
func ProcCPUSeconds(pid int) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name in parentheses may hold spaces: fields count from
	// after its closing parenthesis, utime and stime being the 12th and
	// 13th of those.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("benchkit: /proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("benchkit: /proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseFloat(f[11], 64)
	stime, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("benchkit: /proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return (utime + stime) / clockTicks, nil
}

// Machine describes where a benchmark ran.
type Machine struct {
	Cores     int    `json:"cores"`
	CPU       string `json:"cpu"`
	GoVersion string `json:"go"`
	Date      string `json:"date"` // UTC, YYYY-MM-DD
}

// ThisMachine describes the machine this process runs on.
func ThisMachine() Machine {
	return Machine{Cores: runtime.NumCPU(), CPU: cpuModel(), GoVersion: runtime.Version(),
		Date: time.Now().UTC().Format(time.DateOnly)}
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// LoadAverage is the machine's one-minute load average, -1 if unknown:
// results from a shared machine are only comparable with it beside them.
func LoadAverage() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
